#include "runtime/runtime.h"

#include <grp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "admin/console.h"
#include "config/settings.h"
#include "protocol/sqlstate.h"
#include "protocol/writer.h"
#include "runtime/logging.h"
#include "session/client_session.h"

namespace usher::runtime {

using session::Worker;

namespace {

constexpr auto kJanitorPeriod = std::chrono::milliseconds(100);

// Threads for PBKDF2 (net/offload_pool.h). Two, so that one login against a
// secret with many rounds does not hold up every other; more would only
// compete with the workers for the cores.
constexpr int kOffloadThreads = 2;

// workers = 0: half the cores, at least one. A pooler usually shares its
// host with PostgreSQL or the application; on 2 shared cores one worker
// costs 32-40 us of CPU per transaction against 40-44 us for two, because
// every cross-worker hand-off wakes the other thread (an IPI in a VM). See
// docs/benchmarks.md.
int resolve_workers(int configured) {
  if (configured > 0) return configured;
  unsigned n = std::thread::hardware_concurrency();
  return std::max(1, static_cast<int>(n / 2));
}

}  // namespace

Runtime::Runtime(config::LoadResult loaded)
    : config_(std::make_shared<const config::Config>(std::move(loaded.config))),
      signals_(control_),
      janitor_(control_),
      offload_(kOffloadThreads),
      pools_(resolve_workers(config_->workers), offload_),
      cache_(control_, offload_),
      cancels_(config_->peer_id) {
  int n = resolve_workers(config_->workers);
  for (int i = 0; i < n; ++i)
    workers_.push_back(std::make_unique<session::Worker>(i));
}

asio::awaitable<Status> Runtime::serve_console(session::ClientConnection& client) {
  return admin::serve_console(client, *this);
}

Runtime::~Runtime() {
  for (auto& w : workers_) {
    w->io.stop();
    if (w->thread.joinable()) w->thread.join();
  }
  // A derivation still running completes into a stopped worker io_context,
  // which still exists: stop the pool before the workers go.
  offload_.stop();
  // Idle servers' sockets belong to the workers' io_contexts: close them
  // first. Then destroy the workers, whose sessions still use the pools and
  // the cancel registry (members destroyed after this body).
  for (auto& pool : pools_.all())
    pool->reconnect_all();
  workers_.clear();
  if (!unix_socket_path_.empty()) ::unlink(unix_socket_path_.c_str());
}

std::shared_ptr<const config::Config> Runtime::config() const {
  std::lock_guard lock(config_mu_);
  return config_;
}

std::shared_ptr<const net::TlsContext> Runtime::client_tls() const {
  std::lock_guard lock(config_mu_);
  return client_tls_;
}

Status Runtime::load_tls(const config::Config& c) {
  auto clients = net::make_tls_context(net::client_side_settings(c), net::TlsRole::kAccept);
  auto servers = net::make_tls_context(net::server_side_settings(c), net::TlsRole::kConnect);
  if (clients) {
    std::lock_guard lock(config_mu_);
    client_tls_ = *clients;
  }
  if (servers) pools_.set_server_tls(*servers);
  std::string why = clients ? "" : clients.error().message;
  if (!servers) why += (why.empty() ? "" : "; ") + servers.error().message;
  if (why.empty()) return ok_status();
  return make_error(protocol::sqlstate::config_file_error, why);
}

Status Runtime::listen() {
  auto c = config();
  // Before any client can connect: a TLS setting that does not load stops
  // the start, as in PgBouncer.
  if (Status st = load_tls(*c); !st) return st;
  std::vector<std::string> names;
  auto add = [&](const net::Endpoint& ep, const std::string& name) -> Status {
    auto acc =
        std::make_unique<asio::basic_socket_acceptor<asio::generic::stream_protocol>>(control_);
    boost::system::error_code ec;
    acc->open(ep.protocol(), ec);
    if (!ec && ep.protocol().family() != AF_UNIX) {
      acc->set_option(asio::socket_base::reuse_address(true), ec);
      // so_reuseport: several processes share the port and the kernel
      // spreads connections between them.
      int one = 1;
      if (!ec && c->so_reuseport &&
          ::setsockopt(acc->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) {
        ec.assign(errno, boost::system::system_category());
      }
    }
    if (!ec) acc->bind(ep, ec);
    if (ec) return make_error("", "could not listen on " + name + ": " + ec.message());
    acceptors_.push_back(std::move(acc));
    names.push_back(name);
    return ok_status();
  };
  for (const auto& addr : c->listen_addr) {
    std::vector<std::string> hosts;
    if (addr == "*") {
      hosts = {"0.0.0.0", "::"};
    } else {
      hosts = {addr};
    }
    for (const auto& host : hosts) {
      net::Endpoint ep;
      std::string error;
      if (!net::resolve_blocking(host, c->listen_port, ep, error)) return make_error("", error);
      Status st = add(ep, host + ":" + std::to_string(c->listen_port));
      if (!st && addr == "*" && host == "::") continue;  // no IPv6 on this host
      if (!st) return st;
    }
  }
  if (!c->unix_socket_dir.empty()) {
    unix_socket_path_ = net::unix_socket_path(c->unix_socket_dir, c->listen_port);
    ::unlink(unix_socket_path_.c_str());  // a stale socket from a crashed run
    Status st = add(net::Endpoint(asio::local::stream_protocol::endpoint(unix_socket_path_)),
                    "unix:" + unix_socket_path_);
    if (!st) return st;
    ::chmod(unix_socket_path_.c_str(), static_cast<mode_t>(c->unix_socket_mode));
    if (!c->unix_socket_group.empty()) {
      const group* g = ::getgrnam(c->unix_socket_group.c_str());
      if (!g) return make_error("", "unix_socket_group: no group " + c->unix_socket_group);
      if (::chown(unix_socket_path_.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0) {
        return make_error("", "could not give " + unix_socket_path_ + " to group " +
                                  c->unix_socket_group + ": " + std::strerror(errno));
      }
    }
  }
  if (acceptors_.empty())
    return make_error("", "nothing to listen on: set listen_addr or unix_socket_dir");
  // Listen only once every socket is bound (and the Unix one has its mode):
  // whoever sees one address accept connections, a readiness probe or a
  // supervisor, can rely on all of them.
  for (size_t i = 0; i < acceptors_.size(); ++i) {
    boost::system::error_code ec;
    acceptors_[i]->listen(c->listen_backlog, ec);
    if (ec) return make_error("", "could not listen on " + names[i] + ": " + ec.message());
    spdlog::info("listening on {}", names[i]);
  }
  if (c->http_listen_port > 0) {
    http_ = std::make_unique<http::Server>(control_, *this);
    if (Status st = http_->listen(c->http_listen_addr, c->http_listen_port); !st) return st;
  }
  return ok_status();
}

namespace {

// Over the hard cap (kAdminConnectionReserve): PgBouncer's message, written
// without waiting (a fresh connection's send buffer takes it whole) and the
// socket closed. What the client already sent is read first, so that the
// close is a FIN and not a reset that could overtake the error.
void refuse_at_accept(net::Socket socket) {
  static const std::string error = [] {
    std::string out;
    protocol::write_error_response(out, "FATAL", protocol::sqlstate::too_many_connections,
                                   "no more connections allowed (max_client_conn)");
    return out;
  }();
  const int fd = socket.native_handle();
  ::send(fd, error.data(), error.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  ::shutdown(fd, SHUT_WR);
  char discard[4096];
  for (int i = 0; i < 4 && ::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {
  }
  boost::system::error_code ec;
  socket.close(ec);
}

}  // namespace

void Runtime::start_accept(int index) {
  auto& acc = *acceptors_[index];
  // Hand each connection to the worker with the fewest clients; the socket
  // is created directly on that worker's io_context.
  Worker* target = workers_[0].get();
  for (auto& w : workers_) {
    if (w->clients.load(std::memory_order_relaxed) <
        target->clients.load(std::memory_order_relaxed)) {
      target = w.get();
    }
  }
  acc.async_accept(
      target->io, [this, index, target](boost::system::error_code ec, net::Socket socket) {
        if (shutdown_.load() != ShutdownMode::kNone) return;  // listeners are closing
        if (ec == asio::error::operation_aborted) return;
        if (ec) {
          retry_accept(index, ec);
          return;
        }
        accept_backoff_[index].succeeded();
        // Sessions count themselves once constructed on their worker, so a burst
        // may pass the cap by what is still in flight: it bounds, not meters.
        if (client_count_.load() >= config()->max_client_conn + kAdminConnectionReserve) {
          refuse_at_accept(std::move(socket));
        } else {
          asio::post(target->io, [this, target, s = std::move(socket)]() mutable {
            session::ClientSession::start(*this, *target, std::move(s));
          });
        }
        start_accept(index);
      });
}

void Runtime::retry_accept(int index, const boost::system::error_code& error) {
  AcceptBackoff::Step step = accept_backoff_[index].failed();
  if (step.log) {
    spdlog::warn("accept failed: {} ({} in a row); accepting again in {} ms", error.message(),
                 step.failures, step.delay.count());
  }
  auto& timer = *accept_retry_[index];
  timer.expires_after(step.delay);
  timer.async_wait([this, index](boost::system::error_code ec) {
    if (ec || shutdown_.load() != ShutdownMode::kNone) return;
    start_accept(index);
  });
}

void Runtime::run() {
  offload_.start();
  for (auto& w : workers_) {
    w->thread = std::thread([w = w.get()] {
      auto guard = asio::make_work_guard(w->io);
      w->io.run();
    });
  }
  for (size_t i = 0; i < acceptors_.size(); ++i) {
    accept_backoff_.emplace_back();
    accept_retry_.push_back(std::make_unique<asio::steady_timer>(control_));
    start_accept(static_cast<int>(i));
  }
  signals_.add(SIGHUP);
  signals_.add(SIGINT);
  signals_.add(SIGTERM);
  signals_.add(SIGQUIT);
  signals_.add(SIGUSR1);
  signals_.add(SIGUSR2);
  std::function<void()> wait_signal = [this, &wait_signal] {
    signals_.async_wait([this, &wait_signal](boost::system::error_code ec, int sig) {
      if (ec) return;
      on_signal(sig);
      wait_signal();
    });
  };
  wait_signal();
  // Kept through a shutdown, so that the readiness probe says so.
  if (http_) http_->start();
  janitor_.expires_after(kJanitorPeriod);
  janitor_.async_wait([this](boost::system::error_code ec) {
    if (!ec) janitor_tick();
  });
  control_.run();
  if (http_) http_->stop();
  for (auto& w : workers_)
    w->io.stop();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

void Runtime::on_signal(int sig) {
  switch (sig) {
    case SIGHUP: {
      spdlog::info("got SIGHUP, re-reading config");
      Status st = reload();
      if (!st)
        spdlog::error("reload failed, keeping the old configuration: {}", st.error().message);
      break;
    }
    case SIGINT:
      spdlog::info("got SIGINT, shutting down, waiting for transactions to finish");
      shutdown(ShutdownMode::kWaitForServers);
      break;
    case SIGTERM:
      spdlog::info("got SIGTERM, shutting down, waiting for clients to disconnect");
      shutdown(ShutdownMode::kWaitForClients);
      break;
    case SIGQUIT:
      spdlog::info("got SIGQUIT, fast exit");
      shutdown(ShutdownMode::kImmediate);
      break;
    case SIGUSR1:
      spdlog::info("got SIGUSR1, pausing all activity");
      pause("");
      break;
    case SIGUSR2: {
      spdlog::info("got SIGUSR2, resuming");
      Status st = resume("");
      if (!st) spdlog::warn("{}", st.error().message);
      break;
    }
    default:
      break;
  }
}

Status Runtime::reload() {
  auto current = config();
  // conffile names the file for the next reload (SET conffile = ...).
  auto loaded =
      config::load_config(current->conffile.empty() ? current->config_path : current->conffile);
  // Reopen the logfile even when the new file is broken: logrotate sends
  // SIGHUP whatever the configuration's state.
  reopen_logging(loaded ? loaded->config : *current);
  if (!loaded) return loaded.take_error();
  for (const auto& w : loaded->warnings)
    spdlog::warn("{}", w);
  auto next = std::make_shared<const config::Config>(std::move(loaded->config));
  {
    std::lock_guard lock(config_mu_);
    config_ = next;
  }
  // Certificates are read again on every reload (renewed files); a file
  // that does not load leaves the connections as they were.
  if (Status tls = load_tls(*next); !tls) {
    spdlog::error("TLS settings not applied, that side keeps its previous TLS context: {}",
                  tls.error().message);
  }
  pools_.apply(*next);
  return ok_status();
}

void Runtime::pause(const std::string& db) {
  {
    std::lock_guard lock(state_mu_);
    if (db.empty()) {
      paused_ = true;
    } else {
      paused_dbs_.insert(db);
    }
  }
  for (auto& pool : pools_.all()) {
    if (db.empty() || pool->database() == db) pool->set_paused(true);
  }
}

Status Runtime::resume(const std::string& db) {
  {
    std::lock_guard lock(state_mu_);
    if (db.empty()) {
      if (!paused_ && paused_dbs_.empty()) {
        return make_error(protocol::sqlstate::protocol_violation, "pooler is not paused/suspended");
      }
      paused_ = false;
      paused_dbs_.clear();
    } else if (!paused_dbs_.erase(db) && !paused_) {
      return make_error(protocol::sqlstate::protocol_violation,
                        "database " + db + " is not paused");
    }
  }
  for (auto& pool : pools_.all()) {
    if (!paused(pool->database())) pool->set_paused(false);
  }
  return ok_status();
}

bool Runtime::paused(const std::string& db) const {
  std::lock_guard lock(state_mu_);
  return paused_ || paused_dbs_.count(db) > 0;
}

void Runtime::set_disabled(const std::string& db, bool disabled) {
  std::lock_guard lock(state_mu_);
  if (disabled) {
    disabled_dbs_.insert(db);
  } else {
    disabled_dbs_.erase(db);
  }
}

bool Runtime::disabled(const std::string& db) const {
  std::lock_guard lock(state_mu_);
  return disabled_dbs_.count(db) > 0;
}

Status Runtime::set(std::string_view key, std::string_view value) {
  const config::SettingSpec* spec = config::find_setting(key);
  if (spec == nullptr)
    return make_error(protocol::sqlstate::protocol_violation,
                      "unknown config parameter: " + std::string(key));
  if (!spec->changeable)
    return make_error(protocol::sqlstate::protocol_violation,
                      "cannot change " + std::string(key) + " online");
  auto next = std::make_shared<config::Config>(*config());
  Status st = config::apply_setting(*next, *spec, value);
  if (st) st = config::check_query_cache_limits(*next);
  if (st && (key == "auth_type" || key == "auth_hba_file" || key == "auth_ident_file"))
    st = config::load_hba_rules(*next);
  if (st && key == "http_auth_token_file") st = config::load_http_token(*next);
  if (st && key.starts_with("http_cors")) st = config::check_http_cors(*next);
  // A TLS setting applies at once, or not at all.
  const bool tls_key = key.find("tls") != std::string_view::npos;
  if (st && tls_key) {
    auto side = key.starts_with("client") ? net::TlsRole::kAccept : net::TlsRole::kConnect;
    auto ctx =
        net::make_tls_context(side == net::TlsRole::kAccept ? net::client_side_settings(*next)
                                                            : net::server_side_settings(*next),
                              side);
    if (!ctx) st = ctx.take_error();
  }
  if (!st) return make_error(protocol::sqlstate::protocol_violation, st.error().message);
  {
    std::lock_guard lock(config_mu_);
    config_ = next;
  }
  // Checked above: both sides load (unless a file changed meanwhile).
  if (tls_key && !load_tls(*next)) spdlog::error("TLS settings not applied after SET {}", key);
  pools_.apply(*next);
  return ok_status();
}

void Runtime::shutdown(ShutdownMode mode) {
  if (mode == ShutdownMode::kWaitForServers) pause("");
  // A stronger mode may replace a weaker one, never the reverse.
  ShutdownMode current = shutdown_.load();
  while (static_cast<int>(mode) > static_cast<int>(current) &&
         !shutdown_.compare_exchange_weak(current, mode)) {
  }
  asio::post(control_, [this] {
    for (auto& acc : acceptors_) {
      boost::system::error_code ec;
      acc->close(ec);
    }
    for (auto& timer : accept_retry_)
      timer->cancel();
    if (shutdown_.load() == ShutdownMode::kImmediate) control_.stop();
  });
}

void Runtime::janitor_tick() {
  auto now = Clock::now();
  auto c = config();
  // Pools: wait timeouts, reserve pool, idle and lifetime limits.
  int worker_index = 0;
  for (auto& pool : pools_.all()) {
    int to_open = pool->maintain(now);
    for (int i = 0; i < to_open; ++i) {
      // min_pool_size: spread the connections over the workers.
      Worker& w = *workers_[worker_index++ % workers_.size()];
      asio::co_spawn(w.io, pool->prefill(w.index), [](std::exception_ptr e) {
        if (e) spdlog::error("min_pool_size connection failed unexpectedly");
      });
    }
  }
  // SHOW STATS averages cover the last full stats_period.
  if (c->stats_period.count() > 0 && now - last_stats_roll_ >= c->stats_period) {
    double seconds = std::chrono::duration<double>(now - last_stats_roll_).count();
    pool::StatsTotals all;
    for (auto& pool : pools_.all())
      all += pool->stats().roll(seconds);
    if (c->log_stats) {
      auto a = pool::average(all, stats_logged_, seconds);
      using C = pool::Counter;
      spdlog::info(
          "stats: {} xacts/s, {} queries/s, {} client parses/s, {} server parses/s, {} binds/s, "
          "in {} B/s, out {} B/s, xact {} us, query {} us, wait {} us",
          a[C::kXactCount], a[C::kQueryCount], a[C::kClientParseCount], a[C::kServerParseCount],
          a[C::kBindCount], a[C::kBytesReceived], a[C::kBytesSent], a[C::kXactTime],
          a[C::kQueryTime], a[C::kWaitTime]);
    }
    stats_logged_ = all;
    last_stats_roll_ = now;
  }
  // Sessions: client-side timeouts, checked on each session's own worker,
  // at a coarser period since it visits every client.
  if (++ticks_ % 5 == 0) {
    for (auto& w : workers_) {
      asio::post(w->io, [w = w.get(), now, c] {
        for (auto& weak : w->sessions) {
          if (auto s = weak.lock()) s->check_timeouts(now, *c);
        }
      });
    }
  }
  // Shutdown: exit once what the mode waits for is done.
  ShutdownMode mode = shutdown_.load();
  bool done = false;
  if (mode == ShutdownMode::kWaitForClients) {
    done = client_count_.load() == 0;
  } else if (mode == ShutdownMode::kWaitForServers) {
    done = true;
    for (auto& pool : pools_.all())
      done &= pool->counts(now).active == 0;
  }
  if (exiting_) {
    control_.stop();
    return;
  }
  if (done) {
    // Tell every remaining client, then stop on the next tick.
    exiting_ = true;
    for (auto& w : workers_) {
      asio::post(w->io, [w = w.get()] {
        for (auto& weak : w->sessions) {
          if (auto s = weak.lock())
            s->kill(make_error(protocol::sqlstate::admin_shutdown, "server shutting down"));
        }
      });
    }
  }
  janitor_.expires_after(kJanitorPeriod);
  janitor_.async_wait([this](boost::system::error_code ec) {
    if (!ec) janitor_tick();
  });
}

}  // namespace usher::runtime
