#include "core/stamp.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>

#include <cstdio>

#include "core/error.h"
#include "core/layer_lock.h"
#include "core/names.h"
#include "core/text.h"

namespace sifstore {
namespace {

std::string format_tm(const std::tm& tm) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d%02d-%02d%02d%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

int digits(std::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = 0; i < n; ++i) v = v * 10 + (s[pos + i] - '0');
  return v;
}

bool root_has_builds(const Dir& root) {
  for (const auto& e : root.scan()) {
    if (e.type != DT_DIR && e.type != DT_UNKNOWN) continue;
    if (!is_valid_layer_name(e.name)) continue;
    std::optional<Dir> sub;
    try {
      sub = root.subdir(e.name);
    } catch (const Error&) {
      continue;
    }
    if (sub && newest_ts(*sub, e.name)) return true;
  }
  return false;
}

// The inode of this process's PID namespace ("" when /proc does not say): a
// pid means a process only in the namespace that numbered it.
std::string pid_namespace() {
  struct stat st;
  if (::stat("/proc/self/ns/pid", &st) != 0) return "";
  return std::to_string(static_cast<unsigned long long>(st.st_ino));
}

}  // namespace

std::string host_name() {
  char buf[256] = {0};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}


std::string format_ts(std::time_t t, TimeBase base) {
  std::tm tm{};
  if (base == TimeBase::kUtc) {
    gmtime_r(&t, &tm);
  } else {
    localtime_r(&t, &tm);
  }
  return format_tm(tm);
}

std::string ts_plus_one_second(std::string_view ts) {
  std::tm tm{};
  tm.tm_year = digits(ts, 0, 4) - 1900;
  tm.tm_mon = digits(ts, 5, 2) - 1;
  tm.tm_mday = digits(ts, 7, 2);
  tm.tm_hour = digits(ts, 10, 2);
  tm.tm_min = digits(ts, 12, 2);
  tm.tm_sec = digits(ts, 14, 2) + 1;
  std::time_t t = timegm(&tm);  // normalises overflow into the next minute/day/...
  std::tm out{};
  gmtime_r(&t, &out);
  return format_tm(out);
}

Clock system_clock() {
  return [] { return std::time(nullptr); };
}

TimeBase store_time_base(const Dir& root) {
  if (auto text = root.read_file(kTimeBaseFile, 4096)) {
    if (starts_with(*text, "local")) return TimeBase::kLocal;
    if (starts_with(*text, "utc")) return TimeBase::kUtc;
    throw Error(root.path_of(kTimeBaseFile) + " is malformed: expected 'utc' or 'local'");
  }
  TimeBase base = root_has_builds(root) ? TimeBase::kLocal : TimeBase::kUtc;
  // First writer wins; a concurrent first stamp reads back the same decision.
  if (!root.create_exclusive(kTimeBaseFile, base == TimeBase::kUtc ? "utc\n" : "local\n")) {
    return store_time_base(root);
  }
  return base;
}

std::optional<std::string> newest_ts(const Dir& layer_dir, std::string_view layer) {
  std::optional<std::string> newest;
  for (const auto& e : layer_dir.scan()) {
    std::optional<std::string> ts;
    if (auto parsed = parse_artifact_name(layer, e.name)) {
      ts = parsed->ts;
    } else {
      ts = parse_hidden_name(layer, e.name, kReservedSuffix);
    }
    if (ts && is_valid_ts(*ts) && (!newest || *ts > *newest)) newest = ts;
  }
  return newest;
}

std::string fresh_ts(const Dir& root, const Dir& layer_dir, std::string_view layer,
                     const Clock& clock) {
  std::string now = format_ts(clock(), store_time_base(root));
  auto newest = newest_ts(layer_dir, layer);
  if (newest && *newest >= now) return ts_plus_one_second(*newest);
  return now;
}

std::string reserve_ts(const Dir& root, const Dir& layer_dir, std::string_view layer,
                       const Clock& clock, ReservationHolder holder) {
  LayerLock lock(layer_dir);
  std::string ts = fresh_ts(root, layer_dir, layer, clock);
  std::string owner =
      "host=" + host_name() +
      (holder == ReservationHolder::kCaller
           ? std::string(" holder=caller\n")
           : " pid=" + std::to_string(::getpid()) + " pidns=" + pid_namespace() + "\n");
  // Under the lock no other SifStore can take ts; the loop guards against a
  // writer that does not take the lock (an older SifStore, a hand-made file).
  for (int attempt = 0; attempt < 1000; ++attempt) {
    if (!layer_dir.exists(artifact_name(layer, ts, Artifact::kSif)) &&
        layer_dir.create_exclusive(reservation_name(layer, ts), owner)) {
      return ts;
    }
    ts = ts_plus_one_second(ts);
  }
  throw Error("cannot reserve a timestamp for layer '" + std::string(layer) + "' in " +
              layer_dir.path());
}

void release_reservation(const Dir& layer_dir, std::string_view layer, std::string_view ts) {
  layer_dir.unlink(reservation_name(layer, ts));
}

bool reservation_is_live(const Dir& layer_dir, const std::string& reservation_file) {
  struct stat st;
  if (::fstatat(layer_dir.fd(), reservation_file.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return false;
  std::string text;
  try {
    text = layer_dir.read_file(reservation_file, 4096).value_or("");
  } catch (const Error&) {
    text.clear();
  }
  std::string host, pid, pidns;
  bool has_pidns = false, caller = false;
  std::istringstream words(text);
  for (std::string w; words >> w;) {
    if (starts_with(w, "host=")) host = w.substr(5);
    if (starts_with(w, "pid=")) pid = w.substr(4);
    if (starts_with(w, "pidns=")) {
      has_pidns = true;
      pidns = w.substr(6);
    }
    if (w == "holder=caller") caller = true;
  }
  if (caller) return std::time(nullptr) - st.st_mtime < 24 * 3600;
  // The pid can be checked only on the same host and in the same PID
  // namespace (a build in a container numbers its processes apart); a file
  // from before pidns was recorded is taken as this namespace's.
  bool same_pidns = !has_pidns || (!pidns.empty() && pidns == pid_namespace());
  if (!host.empty() && host == host_name() && !pid.empty() && same_pidns) {
    pid_t p = static_cast<pid_t>(std::atol(pid.c_str()));
    if (p <= 0) return false;
    return ::kill(p, 0) == 0 || errno == EPERM;
  }
  constexpr time_t kWeek = 7 * 24 * 3600;
  return std::time(nullptr) - st.st_mtime < kWeek;
}

}  // namespace sifstore
