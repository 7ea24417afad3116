// Build timestamps: the clock, the store's time base, and the exclusive
// reservation of a fresh `<ts>` for a layer.
//
// A fresh `<ts>` is strictly newer than every build of the layer (visible
// artifacts and reservations alike): it is the clock's time, or one second
// past the newest existing `<ts>` when the clock is behind it (two builds in
// the same second, a clock stepped back, a repeated local hour). It is
// reserved by creating `<root>/<layer>/.<layer>-<ts>.reserved` with O_EXCL
// while the layer lock is held; on a collision the next second is tried.
//
// Time base: stores created by SifStore stamp in UTC. A store that already
// holds builds but no record of its time base was made by the reference
// tool, which stamps local time; SifStore keeps stamping local time there so
// the order of `<ts>` keeps matching the order of builds. The choice is
// recorded in `<root>/.sifstore-timebase` ("utc" or "local").
#pragma once

#include <ctime>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "core/fs.h"

namespace sifstore {

enum class TimeBase { kUtc, kLocal };

// Formats a time as YYYY-MMDD-HHMMSS in the given base.
std::string format_ts(std::time_t t, TimeBase base);
// The timestamp one second after ts (pure calendar arithmetic). ts must be
// valid (is_valid_ts).
std::string ts_plus_one_second(std::string_view ts);

// The source of "now"; tests substitute their own to step the clock.
using Clock = std::function<std::time_t()>;
Clock system_clock();

// Reads the store's time base, deciding and recording it on first use.
TimeBase store_time_base(const Dir& root);

// The newest `<ts>` of the layer among its artifacts and reservations, from
// one directory scan; nullopt for a layer with no builds.
std::optional<std::string> newest_ts(const Dir& layer_dir, std::string_view layer);

// The `<ts>` a new build would get now, without reserving it.
std::string fresh_ts(const Dir& root, const Dir& layer_dir, std::string_view layer,
                     const Clock& clock);

// Who holds a reservation: this process (a build, which releases it when it
// publishes or gives up; a dead holder's reservation is debris), or the
// caller of `sifstore stamp LAYER`, who uses the `<ts>` after sifstore has
// exited (held for a day, then stale).
enum class ReservationHolder { kThisProcess, kCaller };

// Reserves and returns a fresh `<ts>` for the layer, under the layer lock.
// The reservation stays until release_reservation() or until it is stale
// (reservation_is_live); fsck clears stale ones.
std::string reserve_ts(const Dir& root, const Dir& layer_dir, std::string_view layer,
                       const Clock& clock,
                       ReservationHolder holder = ReservationHolder::kThisProcess);
void release_reservation(const Dir& layer_dir, std::string_view layer, std::string_view ts);

// Whether the process that holds a reservation may still be running. The
// file names its owner ("host=<hostname> pid=<pid> pidns=<inode>"); on this
// host and in this PID namespace a dead pid means a build that was killed. A
// caller's reservation ("holder=caller") counts as live for a day; an owner
// on another host or in another PID namespace (a container), or a file that
// does not say, until the file is a week old.
bool reservation_is_live(const Dir& layer_dir, const std::string& reservation_file);

// This host's name (gethostname), "unknown" when it cannot be had: what
// reservations and holds record to tell hosts apart.
std::string host_name();

}  // namespace sifstore
