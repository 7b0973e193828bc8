// admin/router.hpp — the admin API's request -> response function: authentication, routing and the
// handlers, with no socket I/O (the AdminServer only moves bytes; tests call handle() directly too).
//
// Routes (JSON bodies; errors are {"error": "..."}):
//   GET    /healthz                         200 "ok" (the only route without the token)
//   GET    /metrics                         Prometheus text format 0.0.4
//   GET    /api/v1/queue                    QueueSummary
//   GET    /api/v1/messages?sender=&recipient=&organization=&connector=&next_hop=&state=&limit=
//                                           {"messages": [MessageInfo...]}
//   GET    /api/v1/messages/{id}            MessageInfo | 404
//   DELETE /api/v1/messages/{id}            OpResult (200 | 404 | 409)
//   POST   /api/v1/messages/{id}/retry      OpResult
//   POST   /api/v1/messages/{id}/hold       OpResult
//   POST   /api/v1/messages/{id}/release    OpResult
//   POST   /api/v1/queue/retry              OpResult (every deferred message)
//   POST   /api/v1/reload                   ReloadResult (200 | 409 with the errors)
//   GET    /api/v1/trace?sender=&recipient=&message_id=&since=&limit=
//                                           {"events": [Event...]}
// Status codes: 400 bad query or body, 401 missing or wrong token (with WWW-Authenticate: Bearer),
// 404 unknown path or message, 405 wrong method (with Allow), 409 wrong state or reload refused,
// 500 a Backend failure. Every route but /healthz checks `Authorization: Bearer <token>` first, in
// constant time, so an unauthenticated client learns nothing about paths or messages.
// Threads: handle() calls the Backend; the AdminServer calls it from its one thread.
#pragma once

#include "admin/backend.hpp"
#include "metrics/metrics.hpp"

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <string>

namespace mf::admin {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse = boost::beast::http::response<boost::beast::http::string_body>;

class Router {
 public:
  // `registry` may be null: /metrics then answers an empty exposition.
  Router(Backend& backend, const metrics::Registry* registry, std::string token);

  HttpResponse handle(const HttpRequest& request);

 private:
  HttpResponse route(const HttpRequest& request, std::string_view path, std::string_view query);
  HttpResponse message_route(const HttpRequest& request, std::string_view rest);

  Backend& backend_;
  const metrics::Registry* registry_;
  std::string token_;
};

// A JSON error response {"error": message} (also used by the server for 400/413/431/503).
HttpResponse error_response(unsigned status, std::string_view message, unsigned version = 11);

}  // namespace mf::admin
