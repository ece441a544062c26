// What the admin console may see and do to the process: the runtime (the
// composition root, runtime/runtime.h) implements it, so that admin/ never
// reaches up into the process that owns it.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cache/cache.h"
#include "common/result.h"
#include "config/config.h"
#include "pool/pool_manager.h"
#include "session/peer_cancels.h"
#include "session/worker.h"

namespace usher::admin {

// PgBouncer's shutdown modes: SIGINT waits for transactions to finish,
// SIGTERM waits for clients to leave, SIGQUIT (or SHUTDOWN) exits at once.
enum class ShutdownMode { kNone, kWaitForClients, kWaitForServers, kImmediate };

class Control {
 public:
  virtual std::shared_ptr<const config::Config> config() const = 0;
  virtual pool::PoolManager& pools() = 0;
  virtual session::PeerCancels& peer_cancels() = 0;
  // The workers, whose sessions SHOW CLIENTS, KILL and the like visit on
  // each worker's own thread.
  virtual int worker_count() const = 0;
  virtual session::Worker& worker(int i) = 0;

  // Re-reads the configuration file; on error the old one stays in force.
  virtual Status reload() = 0;
  // PAUSE / RESUME, for all databases (empty name) or one. RESUME of what is
  // not paused is an error.
  virtual void pause(const std::string& db) = 0;
  virtual Status resume(const std::string& db) = 0;
  virtual bool paused() const = 0;  // everything, by PAUSE with no name
  virtual bool paused(const std::string& db) const = 0;
  // DISABLE / ENABLE: new clients of a disabled database are refused.
  virtual void set_disabled(const std::string& db, bool disabled) = 0;
  virtual bool disabled(const std::string& db) const = 0;
  // SET: changes one setting until the next reload.
  virtual Status set(std::string_view key, std::string_view value) = 0;
  // The result cache; null until a client of a cached database came.
  virtual cache::Cache* cache() = 0;
  virtual void shutdown(ShutdownMode mode) = 0;
  virtual ShutdownMode shutdown_mode() const = 0;

 protected:
  ~Control() = default;
};

}  // namespace usher::admin
