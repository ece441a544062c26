#include "runtime/cache_service.h"

#include <spdlog/spdlog.h>

namespace usher::runtime {

CacheService::~CacheService() {
  stop();
}

std::optional<cache::Access> CacheService::access(const config::Config& config,
                                                  const pool::Pool& pool) {
  auto db = config::find_database(config, pool.database());
  auto user_it = config.users.find(pool.user());
  const config::UserConfig* user = user_it == config.users.end() ? nullptr : &user_it->second;
  if (!config::query_cache_enabled(config, db ? &*db : nullptr, user)) return std::nullopt;

  std::lock_guard lock(mu_);
  if (!cache_) cache_ = std::make_unique<cache::Cache>(config.query_cache_size.bytes);
  cache::ClientSettings wanted;
  wanted.max_entry = static_cast<size_t>(config.query_cache_max_entry.bytes);
  wanted.ttl = config.query_cache_ttl;
  wanted.include = config.query_cache_tables;
  wanted.exclude = config.query_cache_exclude_tables;
  if (!settings_ || !(*settings_ == wanted)) {
    // A reload changed them: later clients get the new ones.
    settings_ = std::make_shared<const cache::ClientSettings>(std::move(wanted));
  }
  if (cache_->store().max_bytes() != size_t(config.query_cache_size.bytes))
    cache_->store().set_max_bytes(size_t(config.query_cache_size.bytes));
  const auto mode = config.query_cache_invalidation == config::CacheInvalidation::kProxy
                        ? cache::Invalidation::kProxy
                        : cache::Invalidation::kReplication;
  bool created = false;
  auto domain = cache_->get_or_add(pool.database(), mode, created);
  if (created) start_stream(config, pool, domain);
  return cache::Access{std::move(domain), &cache_->store(), &cache_->flights(), settings_};
}

void CacheService::start_stream(const config::Config& config, const pool::Pool& pool,
                                std::shared_ptr<cache::Domain> domain) {
  cache::StreamSettings s;
  s.target = pool.target();
  s.replicate = domain->mode() == cache::Invalidation::kReplication;
  if (!config.query_cache_replication_user.empty() &&
      config.query_cache_replication_user != s.target.user) {
    s.target.user = config.query_cache_replication_user;
    auto secret = config.auth_users.find(s.target.user);
    s.target.password = secret == config.auth_users.end() ? std::string() : secret->second;
    s.target.password_learned = false;
    s.target.has_scram_keys = false;
  }
  s.connect_timeout = config.server_connect_timeout;
  auto stream = std::make_unique<cache::Stream>(control_, offload_, std::move(s), *domain);
  stream->start();
  // Unset in stop() before the stream goes.
  domain->set_catalog_reloader([raw = stream.get()] { raw->reload_catalog(); });
  domain->set_deferrer([this](std::function<void()> fn) {
    auto timer = std::make_shared<boost::asio::steady_timer>(control_, cache::kVisibilityGrace);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
  });
  // The domain lives as long as the cache, which outlives every stream.
  streams_[domain->database()] = std::move(stream);
}

void CacheService::stop() {
  std::lock_guard lock(mu_);
  if (cache_) {
    for (auto& [db, stream] : streams_) {
      if (auto domain = cache_->find(db)) {
        domain->set_catalog_reloader({});
        domain->set_deferrer({});
      }
    }
  }
  for (auto& [db, stream] : streams_)
    stream->stop();
  streams_.clear();
}

}  // namespace usher::runtime
