#include "core/holds.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <tuple>

#include "core/error.h"
#include "core/layer_lock.h"
#include "core/names.h"
#include "core/process.h"
#include "core/stamp.h"
#include "core/text.h"

namespace sifstore {
namespace {

constexpr std::string_view kHeader = "sifstore hold 1";

// Slurm job states after which a job never runs again.
bool finished_state(std::string_view state) {
  static const char* const kFinished[] = {"COMPLETED",     "CANCELLED", "FAILED",      "TIMEOUT",
                                          "NODE_FAIL",     "PREEMPTED", "BOOT_FAIL",   "DEADLINE",
                                          "OUT_OF_MEMORY", "REVOKED",   "SPECIAL_EXIT"};
  for (const char* f : kFinished)
    if (state == f || starts_with(state, std::string(f) + " ")) return true;
  return false;
}

bool parse_i64(std::string_view s, int64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

std::string time_text(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  localtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return buf;
}

}  // namespace

const char* hold_state_name(HoldState s) {
  switch (s) {
    case HoldState::kLive:
      return "live";
    case HoldState::kDead:
      return "dead";
    case HoldState::kUnknown:
      return "unknown";
  }
  return "unknown";
}

std::string format_hold(const Hold& h) {
  std::string out(kHeader);
  out.append("\njob ").append(h.job);
  out.append("\nuntil ").append(std::to_string(h.until));
  out.append("\nhost ").append(h.host);
  out.append("\ncreated ").append(std::to_string(h.created));
  out.append("\n");
  return out;
}

std::optional<Hold> parse_hold(std::string_view text) {
  auto values = keyed_record_values(text, kHeader, {"job", "until", "host", "created"});
  if (!values) return std::nullopt;
  Hold h;
  h.job = (*values)[0];
  if (!h.job.empty() && !is_valid_hold_id(h.job)) return std::nullopt;
  if (!parse_i64((*values)[1], h.until) || !parse_i64((*values)[3], h.created)) return std::nullopt;
  h.host = (*values)[2];
  return h;
}

HoldJudge::HoldJudge(int64_t now) : now_(now) {
  try {
    squeue_ = find_program("squeue", "Slurm's squeue");
  } catch (const Error&) {
    squeue_.clear();
  }
}

HoldVerdict HoldJudge::judge(const Hold& hold) {
  if (!hold.job.empty() && !squeue_.empty()) {
    if (auto it = jobs_.find(hold.job); it != jobs_.end()) return it->second;
    HoldVerdict v;
    const std::string secs = std::to_string(kSqueueTimeoutMs / 1000);
    if (squeue_timed_out_) {
      v = {HoldState::kUnknown,
           "squeue did not answer within " + secs + " s before; the build is kept"};
      jobs_[hold.job] = v;
      return v;
    }
    try {
      CapturedRun r =
          run_captured({squeue_, "-h", "-j", hold.job, "-o", "%T"}, 1u << 20, kSqueueTimeoutMs);
      if (r.timed_out) {
        squeue_timed_out_ = true;
        v = {HoldState::kUnknown, "squeue did not answer within " + secs + " s (job " + hold.job +
                                      "); the build is kept"};
        jobs_[hold.job] = v;
        return v;
      }
      std::vector<std::string> states;
      for (auto& line : split(r.out, '\n')) {
        std::string s(trim(line, " \t\r"));
        if (!s.empty()) states.push_back(s);
      }
      if (r.status.ok()) {
        auto running = std::find_if(states.begin(), states.end(),
                                    [](const std::string& s) { return !finished_state(s); });
        if (running != states.end()) {
          v = {HoldState::kLive, "job " + hold.job + " is " + *running};
        } else {
          v = {HoldState::kDead, states.empty() ? "job " + hold.job + " is not in squeue"
                                                : "job " + hold.job + " is " + states.front()};
        }
      } else if (r.err.find("Invalid job id") != std::string::npos) {
        v = {HoldState::kDead, "job " + hold.job + " is unknown to squeue"};
      } else {
        std::string err(trim(r.err, " \t\r\n"));
        v = {HoldState::kUnknown, "squeue failed (" + r.status.describe() +
                                      (err.empty() ? "" : ": " + err) + "); the build is kept"};
      }
    } catch (const Error& e) {
      v = {HoldState::kUnknown, std::string("squeue failed: ") + e.what() + "; the build is kept"};
    }
    jobs_[hold.job] = v;
    return v;
  }
  if (now_ < hold.until) return {HoldState::kLive, "until " + time_text(hold.until)};
  return {HoldState::kDead, "expired " + time_text(hold.until)};
}

std::vector<Hold> read_holds(const Dir& dir, std::string_view layer) {
  std::vector<Hold> out;
  std::vector<ParsedHold> names;
  dir.scan([&](std::string_view name, unsigned char type) {
    if (type != DT_REG && type != DT_UNKNOWN) return;
    if (auto p = parse_hold_name(layer, name)) names.push_back(std::move(*p));
  });
  for (auto& p : names) {
    std::string file = hold_name(layer, p.ts, p.id);
    std::optional<Hold> h;
    try {
      if (auto text = dir.read_file(file, 4096))
        h = parse_hold(*text);
      else
        continue;  // gone meanwhile
    } catch (const Error&) {
      h.reset();
    }
    if (!h) {
      h.emplace();
      h->readable = false;
      struct stat st;
      int64_t mtime = ::fstatat(dir.fd(), file.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0
                          ? static_cast<int64_t>(st.st_mtime)
                          : 0;
      h->until = mtime + kDefaultHoldSeconds;
      h->created = mtime;
    }
    h->layer = layer;
    h->ts = p.ts;
    h->id = p.id;
    h->file = file;
    out.push_back(std::move(*h));
  }
  std::sort(out.begin(), out.end(), [](const Hold& a, const Hold& b) {
    return std::tie(a.ts, a.id) < std::tie(b.ts, b.id);
  });
  return out;
}

int64_t parse_hold_until(const std::string& text, int64_t now) {
  const std::string forms =
      " (use a duration such as 90s, 30m, 12h or 2d, @<unix seconds>, or a date "
      "YYYY-MM-DD[THH:MM[:SS]])";
  int64_t n = 0;
  if (text.size() >= 2 && parse_i64(std::string_view(text).substr(0, text.size() - 1), n)) {
    switch (text.back()) {
      case 's':
        return now + n;
      case 'm':
        return now + n * 60;
      case 'h':
        return now + n * 3600;
      case 'd':
        return now + n * 86400;
      default:
        break;
    }
  }
  if (text.size() > 1 && text[0] == '@' && parse_i64(std::string_view(text).substr(1), n)) return n;
  std::tm tm{};
  for (const char* fmt : {"%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"}) {
    tm = std::tm{};
    const char* end = ::strptime(text.c_str(), fmt, &tm);
    if (end && *end == '\0') {
      tm.tm_isdst = -1;
      std::time_t t = std::mktime(&tm);
      if (t != static_cast<std::time_t>(-1)) return static_cast<int64_t>(t);
    }
  }
  throw Error("invalid hold time '" + text + "'" + forms);
}

Hold place_hold(const Store& store, const std::string& layer, const std::string& ts,
                const std::string& job, std::optional<int64_t> until) {
  check_layer_name(layer);
  check_ts(ts);
  if (!job.empty() && !is_valid_hold_id(job))
    throw Error("invalid job id '" + job +
                "': use 1 to 64 letters, digits, '_', '+' and '-' (a Slurm job id such as 1234 or "
                "1234_5)");
  const int64_t now = static_cast<int64_t>(std::time(nullptr));
  Hold h;
  h.layer = layer;
  h.ts = ts;
  h.job = job;
  h.created = now;
  h.until = until.value_or(now + kDefaultHoldSeconds);
  h.host = host_name();
  if (job.empty()) {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::system_clock::now().time_since_epoch())
                  .count();
    h.id = "t" + std::to_string(ns) + "-" + std::to_string(::getpid());
  } else {
    h.id = job;
  }
  h.file = hold_name(layer, ts, h.id);
  auto dir = store.layer_dir(layer);
  std::string sif = artifact_name(layer, ts, Artifact::kSif);
  if (!dir) throw Error("layer '" + layer + "' not found in store " + store.root());
  LayerLock lock(*dir);
  if (dir->type_of(sif) != S_IFREG)
    throw Error("cannot hold " + dir->path_of(sif) + ": the build is gone (pruned meanwhile?)");
  dir->write_file_atomic(h.file, format_hold(h));
  return h;
}

HeldBuilds held_builds(const Dir& dir, std::string_view layer) {
  HeldBuilds out;
  std::vector<Hold> holds = read_holds(dir, layer);
  if (holds.empty()) return out;
  HoldJudge judge(static_cast<int64_t>(std::time(nullptr)));
  for (const auto& h : holds) {
    out.files[h.ts].push_back(h.file);
    if ((out.kept.empty() || out.kept.back() != h.ts) && judge.judge(h).keeps())
      out.kept.push_back(h.ts);
  }
  return out;
}

}  // namespace sifstore
