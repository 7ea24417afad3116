// What the benchmarks share: a measurement's wall-clock and CPU time, the
// median of repeated runs, and the machine's load average (printed beside
// every set of figures, since a ratio measured on a loaded machine says so).
#pragma once

#include <sys/time.h>

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace sifstore::bench {

// Wall-clock and CPU (user + system) seconds of one measurement.
struct Timing {
  double wall = 0, cpu = 0;
};

inline double seconds(const struct timeval& tv) { return tv.tv_sec + tv.tv_usec / 1e6; }

inline double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

// The runs of one measurement; medians of wall and CPU time separately.
struct Series {
  std::vector<double> wall, cpu;
  void add(Timing t) {
    wall.push_back(t.wall);
    cpu.push_back(t.cpu);
  }
  Timing med() const { return {median(wall), median(cpu)}; }
  bool empty() const { return wall.empty(); }
};

// "1.23 0.98 0.75" from /proc/loadavg, or "unknown".
inline std::string load_average() {
  std::string text;
  if (FILE* f = std::fopen("/proc/loadavg", "r")) {
    char buf[128];
    if (std::fgets(buf, sizeof buf, f)) text = buf;
    std::fclose(f);
  }
  std::istringstream in(text);
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return "unknown";
  return one + " " + five + " " + fifteen;
}

}  // namespace sifstore::bench
