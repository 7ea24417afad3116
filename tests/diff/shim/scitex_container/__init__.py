# Stand-in for the scitex_container package, so that the reference store
# module (/work/shared/reference/scitex_store.py) can be imported on its own by
# the differential test. Only `_compat` is provided.
