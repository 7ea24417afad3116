"""The example's own package: a greeting read from YAML."""

import yaml

__version__ = "0.1.0"


def greet(name):
    return yaml.safe_load("message: Hello, %s!" % name)["message"]
