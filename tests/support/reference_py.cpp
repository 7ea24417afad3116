#include "support/reference_py.h"

namespace sifstore::test {

namespace {

const char* kDriver = R"(import json, sys
from scitex_container.apptainer._lockgen import (Lock, compare_locks, generate_locked_def,
                                                 read_lock, write_lock)
cmd = sys.argv[1]
if cmd == "write":
    spec = json.load(open(sys.argv[2], encoding="utf-8"))
    write_lock(Lock(pip=spec["pip"], dpkg=spec["dpkg"], node=spec["node"]), sys.argv[3])
elif cmd == "read":
    l = read_lock(sys.argv[2])
    json.dump({"pip": l.pip, "dpkg": l.dpkg, "node": l.node,
               "version_set": l.version_set()}, sys.stdout)
elif cmd == "compare":
    d = compare_locks(read_lock(sys.argv[2]), read_lock(sys.argv[3]))
    json.dump({"identical": d.identical, "summary": d.summary(), "changed": d.changed,
               "only_in_a": d.only_in_a, "only_in_b": d.only_in_b}, sys.stdout)
elif cmd == "locked-def":
    generate_locked_def(sys.argv[2], read_lock(sys.argv[3]), sys.argv[4])
else:
    sys.exit("unknown command " + cmd)
)";

}  // namespace

ReferencePython::ReferencePython() {
  std::string ref = std::string(SIFSTORE_SHARED_DIR) + "/reference/scitex_lockgen.py";
  if (!exists(ref)) {
    unavailable_ = "the reference tool is not here (" + ref + ")";
    return;
  }
  if (test::run({"python3", "-c", "pass"}).status != 0) {
    unavailable_ = "python3 is not installed";
    return;
  }
  std::string pkg = tmp_ / "py/scitex_container";
  write_file(pkg + "/__init__.py", "");
  write_file(pkg + "/_compat.py", "def supports_return_as(f):\n    return f\n");
  write_file(pkg + "/apptainer/__init__.py", "");
  write_file(pkg + "/apptainer/_utils.py", "def detect_container_cmd():\n    return 'apptainer'\n");
  write_file(pkg + "/apptainer/_lockgen.py", read_file(ref));
  write_file(tmp_ / "driver.py", kDriver);
}

nlohmann::json ReferencePython::run(const std::vector<std::string>& args, std::string* error) {
  std::vector<std::string> argv = {"python3", tmp_ / "driver.py"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto r = test::run(argv, {"PYTHONPATH=" + (tmp_ / "py"), "PYTHONUTF8=1"});
  if (r.status != 0) {
    *error = "reference exited " + std::to_string(r.status) + ": " + r.err;
    return nullptr;
  }
  error->clear();
  return r.out.empty() ? nlohmann::json() : nlohmann::json::parse(r.out);
}

}  // namespace sifstore::test
