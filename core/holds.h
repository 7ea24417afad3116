// Holds: a job's claim on the build `check` gave it, so that `prune` (run by
// any build) does not remove an image a queued job is about to run.
//
// `sifstore check LAYER --hold [--job ID] [--until TIME]` writes one hidden
// file per hold beside the build, `.<layer>-<ts>.hold.<id>` (names.h), the
// id being the job's (--job, else $SLURM_JOB_ID) or a generated one:
//
//   sifstore hold 1
//   job <id>              (empty: a hold without a job)
//   until <unix seconds>  (default: a day after it was made)
//   host <hostname>
//   created <unix seconds>
//
// A hold is live, and prune keeps its build, while:
//   - it names a job and Slurm's `squeue` is on PATH: `squeue -h -j ID -o %T`
//     lists the job in a state other than a finished one (COMPLETED,
//     CANCELLED, FAILED, TIMEOUT, ...). A job squeue no longer knows
//     ("Invalid job id") is dead; any other failure of squeue (controller
//     unreachable) is "unknown" and keeps the build. squeue runs under the
//     layer lock, so it gets kSqueueTimeoutMs: one that does not answer in
//     time is killed, its hold is "unknown" (kept, saying so), and the
//     judge asks squeue nothing more (every later job is "unknown" too);
//   - else (no job, or no squeue): until its `until` time.
// A hold file that cannot be read counts as a hold until a day after its
// file's mtime. Prune removes the holds of builds it removes (dead by then);
// `fsck --repair` removes dead holds and holds whose image is gone.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fs.h"
#include "core/store.h"

namespace sifstore {

inline constexpr int64_t kDefaultHoldSeconds = 24 * 3600;
inline constexpr int kSqueueTimeoutMs = 5000;

struct Hold {
  std::string layer, ts, id;
  std::string file;  // its name in the layer directory
  std::string job;   // empty: no job
  int64_t until = 0;
  int64_t created = 0;
  std::string host;
  bool readable = true;  // false: the file could not be parsed (until = mtime + a day)
};

enum class HoldState { kLive, kDead, kUnknown };
const char* hold_state_name(HoldState s);  // "live", "dead", "unknown"

struct HoldVerdict {
  HoldState state = HoldState::kLive;
  std::string why;  // "job 123 is PENDING", "until 2026-...", "squeue failed: ..."
  bool keeps() const { return state != HoldState::kDead; }
};

// Judges holds; asks squeue once per job id. `now` is the time rule's clock.
class HoldJudge {
 public:
  explicit HoldJudge(int64_t now);
  HoldVerdict judge(const Hold& hold);
  bool have_squeue() const { return !squeue_.empty(); }

 private:
  int64_t now_;
  std::string squeue_;  // absolute path, empty when not on PATH
  bool squeue_timed_out_ = false;
  std::map<std::string, HoldVerdict> jobs_;
};

// The holds of a layer, from one scan of its directory.
std::vector<Hold> read_holds(const Dir& layer_dir, std::string_view layer);

// The text of a hold file and its parser (nullopt unless exactly the form).
std::string format_hold(const Hold& hold);
std::optional<Hold> parse_hold(std::string_view text);

// TIME for --until: a duration from now ("90s", "30m", "12h", "2d"), "@<unix
// seconds>", or a local date "YYYY-MM-DD[THH:MM[:SS]]". Throws Error naming
// the text and the accepted forms.
int64_t parse_hold_until(const std::string& text, int64_t now);

// Places a hold on the build <layer>-<ts> under the layer lock (the build
// must still exist: a build pruned since `check` is an Error). job may be
// empty; until defaults to now + a day. Returns the hold written.
Hold place_hold(const Store& store, const std::string& layer, const std::string& ts,
                const std::string& job, std::optional<int64_t> until);

// The builds of a layer a live (or unknown) hold keeps, and every hold file
// by <ts>; for prune.
struct HeldBuilds {
  std::map<std::string, std::vector<std::string>> files;  // <ts> -> hold file names
  std::vector<std::string> kept;                          // <ts> with a hold that keeps it
};
HeldBuilds held_builds(const Dir& layer_dir, std::string_view layer);

}  // namespace sifstore
