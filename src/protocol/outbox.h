// Bytes for one gather write: runs of a buffer we read into, passed on
// without copying, interleaved with messages Usher writes itself. Runs that
// touch are merged, so plain forwarding is still a single buffer. Pure: the
// relay turns the runs into its socket's buffer type (for_each_run).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace usher::protocol {

class Outbox {
 public:
  void clear() {
    segments_.clear();
    own_.clear();
  }
  bool empty() const { return segments_.empty(); }
  // Gives the memory back (an idle client).
  void release() {
    clear();
    segments_.shrink_to_fit();
    own_.shrink_to_fit();
  }

  // Passes `bytes` on; they must stay valid until the write completes.
  // Inlined: it runs for nearly every message relayed.
  [[gnu::always_inline]] void pass(std::span<const uint8_t> bytes) {
    if (bytes.empty()) return;
    if (!segments_.empty() && !segments_.back().own &&
        segments_.back().data + segments_.back().size == bytes.data()) {
      segments_.back().size += bytes.size();
      return;
    }
    segments_.push_back({false, bytes.data(), 0, bytes.size()});
  }

  // Adds Usher's own bytes: `write(std::string& out)` appends them to out.
  template <typename Write>
  void write_own(Write&& write) {
    size_t from = own_.size();
    write(own_);
    add_own(from);
  }

  // Calls fn(const void* data, size_t size) for each run, in order; valid
  // until the next change.
  template <typename Fn>
  void for_each_run(Fn&& fn) const {
    for (const auto& s : segments_)
      fn(s.own ? static_cast<const void*>(own_.data() + s.offset) : s.data, s.size);
  }

 private:
  // Own bytes from `from` (own_'s size before they were appended) on.
  void add_own(size_t from) {
    if (own_.size() == from) return;
    if (!segments_.empty() && segments_.back().own &&
        segments_.back().offset + segments_.back().size == from) {
      segments_.back().size += own_.size() - from;
      return;
    }
    segments_.push_back({true, nullptr, from, own_.size() - from});
  }

  struct Segment {
    bool own;
    const uint8_t* data;  // !own
    size_t offset;        // own: into own_, which may move while it grows
    size_t size;
  };
  std::vector<Segment> segments_;
  std::string own_;
};

}  // namespace usher::protocol
