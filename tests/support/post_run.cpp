#include "support/post_run.h"

#include <sys/stat.h>
#include <unistd.h>

#include "support/temp_dir.h"

namespace sifstore::test {

std::string post_script(const DefFile& def) {
  std::string script, apps;
  for (const auto& s : def.final_stage().sections) {
    if (s.name == "post") script += s.body;
    if (s.name == "appinstall") apps += "\ncd /\n" + s.body + "\ncd /\n";
  }
  return script + apps;
}

bool can_run_post(std::string* why) {
  if (::geteuid() != 0) return *why = "needs root for a private mount namespace", false;
  if (::access("/usr/bin/unshare", X_OK) != 0) return *why = "needs unshare (util-linux)", false;
  return true;
}

namespace {

const char* kPipStub = R"SH(#!/bin/sh
{
  echo "$(basename "$0") $*"
  echo "env PIP_CONSTRAINT=${PIP_CONSTRAINT-<unset>}"
  c=""
  for f in $PIP_CONSTRAINT; do c="$c$(tr '\n' ';' < "$f")"; done
  echo "constraints $c"
} >> "$STUB_LOG"
)SH";

}  // namespace

PostRun run_post(const std::string& script, const std::vector<std::string>& env,
                 const std::string& setup, const std::vector<std::string>& collect) {
  TempDir t;
  write_file(t / "bin/pip", kPipStub);
  write_file(t / "bin/pip3", kPipStub);
  write_file(t / "bin/python3",
             "#!/bin/sh\nif [ \"$1 $2\" = '-m pip' ]; then shift 2; exec pip \"$@\"; fi\n"
             "echo \"python3 $*\" >> \"$STUB_LOG\"\ncat > /dev/null\n");
  for (const char* p : {"apt-get", "apt-mark", "npm"})
    write_file(t / std::string("bin/") + p,
               std::string("#!/bin/sh\necho \"") + p + " $*\" >> \"$STUB_LOG\"\n");
  for (const char* p : {"conda", "dnf", "yum", "microdnf"})
    write_file(
        t / std::string("bin/") + p,
        std::string("#!/bin/sh\n{\n  echo \"") + p +
            " $*\"\n"
            "  for f in $STUB_SHOW; do echo \"show $f $(tr '\\n' ';' < \"$f\" 2>/dev/null)\"; "
            "done\n} >> \"$STUB_LOG\"\n");
  write_file(t / "bin/dpkg-query",
             "#!/bin/sh\necho \"dpkg-query $*\" >> \"$STUB_LOG\"\n"
             "for a; do n=$a; done\n"
             "v=$(printenv \"STUB_DPKG_$(echo \"$n\" | tr -- '-.+' '___')\") || exit 1\n"
             "printf %s \"$v\"\n");
  for (const char* p : {"pip", "pip3", "python3", "apt-get", "apt-mark", "npm", "conda", "dnf",
                        "yum", "microdnf", "dpkg-query"})
    ::chmod((t / std::string("bin/") + p).c_str(), 0755);
  write_file(t / "post.sh", script);
  write_file(t / "setup.sh", setup);
  write_file(t / "log", "");
  // The script runs with a tmpfs on /etc and /opt; what it left there is
  // copied out.
  std::string wrapper =
      "mount -t tmpfs sifstore-test /etc || exit 90\n"
      "mount -t tmpfs sifstore-test /opt || exit 90\n"
      "/bin/sh -e \"$T/setup.sh\" || exit 91\n"
      "cd / && /bin/sh -e \"$T/post.sh\"; s=$?\n"
      "mkdir -p \"$T/out\"\n"
      "cp /etc/apt/preferences.d/sifstore.pref \"$T/out/pref\" 2>/dev/null\n"
      "cp /etc/sifstore/pip-constraints.txt \"$T/out/constraints\" 2>/dev/null\n";
  for (size_t i = 0; i < collect.size(); ++i)
    wrapper += "cp '" + collect[i] + "' \"$T/out/" + std::to_string(i) + "\" 2>/dev/null\n";
  wrapper += "exit $s\n";
  std::vector<std::string> e = {"PATH=" + (t / "bin") + ":/usr/bin:/bin", "STUB_LOG=" + (t / "log"),
                                "T=" + t.path()};
  e.insert(e.end(), env.begin(), env.end());
  RunResult r =
      run({"/usr/bin/unshare", "-m", "--propagation", "private", "/bin/sh", "-c", wrapper}, e);
  PostRun out;
  out.status = r.status;
  out.err = r.err;
  out.log = read_file(t / "log");
  if (exists(t / "out/pref")) out.preferences = read_file(t / "out/pref");
  if (exists(t / "out/constraints")) out.constraints = read_file(t / "out/constraints");
  for (size_t i = 0; i < collect.size(); ++i)
    if (exists(t / ("out/" + std::to_string(i))))
      out.files[collect[i]] = read_file(t / ("out/" + std::to_string(i)));
  return out;
}

}  // namespace sifstore::test
