// The result cache as the runtime runs it: the process's cache::Cache, and
// per cached database the invalidation stream (or, with proxy
// invalidation, only the catalog loader), started the first time a client
// of that database asks, on the control thread's event loop.
#pragma once

#include <boost/asio.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "cache/cache.h"
#include "cache/stream.h"
#include "config/config.h"
#include "net/offload_pool.h"
#include "pool/pool.h"

namespace usher::runtime {

class CacheService {
 public:
  CacheService(boost::asio::io_context& control, net::OffloadPool& offload)
      : control_(control), offload_(offload) {}
  ~CacheService();

  // What a client of `pool` gets of the cache under `config`; nullopt
  // when query_cache is off for it.
  std::optional<cache::Access> access(const config::Config& config, const pool::Pool& pool);

  // Null until the first client of a cached database.
  cache::Cache* cache() {
    std::lock_guard lock(mu_);
    return cache_.get();
  }

  // Ends every stream (shutdown), on the control thread.
  void stop();

 private:
  void start_stream(const config::Config& config, const pool::Pool& pool,
                    std::shared_ptr<cache::Domain> domain);

  boost::asio::io_context& control_;
  net::OffloadPool& offload_;
  std::mutex mu_;
  std::unique_ptr<cache::Cache> cache_;
  // The settings of the configuration last seen, shared by its clients.
  std::shared_ptr<const cache::ClientSettings> settings_;
  std::map<std::string, std::unique_ptr<cache::Stream>> streams_;
};

}  // namespace usher::runtime
