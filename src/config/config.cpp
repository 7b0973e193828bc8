// load_file / load_string: parse the document, run the section parsers, keep the snapshot only
// when no error was reported. Exceptions from yaml-cpp, std::regex or std::filesystem are caught
// here and turned into ConfigErrors: none leaves the module.
#include "config/loader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace mf::config {

namespace {

// Far above any real configuration, even with a million inline recipients.
constexpr std::uintmax_t kMaxFileBytes = 1ULL << 30;

LoadResult finish(std::shared_ptr<Snapshot> snap, std::vector<ConfigError> errors, const std::string& main_file) {
  LoadResult r;
  if (errors.empty()) {
    r.snapshot = std::move(snap);
    return r;
  }
  // Main file first, in document order, then errors of recipients files.
  std::stable_sort(errors.begin(), errors.end(), [&](const ConfigError& a, const ConfigError& b) {
    const bool ao = a.file != main_file, bo = b.file != main_file;
    if (ao != bo) return bo;
    if (a.file != b.file) return a.file < b.file;
    if (a.line != b.line) return a.line < b.line;
    return a.column < b.column;
  });
  r.errors = std::move(errors);
  return r;
}

LoadResult load_text(const std::string& text, const std::string& shown_path) {
  std::vector<ConfigError> errors;
  std::error_code ec;
  std::filesystem::path abs = std::filesystem::absolute(shown_path, ec);
  if (ec) abs = shown_path;
  abs = abs.lexically_normal();

  auto snap = std::make_shared<Snapshot>();
  snap->source_path = abs.string();
  detail::Budget budget{0, 16 * static_cast<std::uint64_t>(text.size()) + 100000};
  detail::Ctx ctx;
  ctx.file = shown_path;
  ctx.base = abs.parent_path();
  ctx.errors = &errors;
  ctx.budget = &budget;
  const detail::Path root;

  try {
    YAML::Node doc;
    try {
      doc = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      ctx.error(e.mark.line >= 0 ? e.mark.line + 1 : 0, e.mark.line >= 0 ? e.mark.column + 1 : 0, root,
                detail::yaml_message(e));
      return finish(nullptr, std::move(errors), shown_path);
    }
    if (doc.IsNull()) {
      errors.push_back(ConfigError{shown_path, 0, 0, "", "the configuration is empty"});
      return finish(nullptr, std::move(errors), shown_path);
    }
    detail::MapReader top(ctx, doc, root, {"service", "organizations"});
    if (top.ok()) {
      if (auto s = top.get("service")) {
        const detail::Path sp = root.key("service");
        detail::parse_service(ctx, *s, sp, snap->service);
      } else {
        top.missing("service");
      }
      detail::State state(*snap);
      if (auto o = top.get("organizations")) {
        const detail::Path op = root.key("organizations");
        detail::for_each_item(ctx, *o, op, [&](const YAML::Node& item, const detail::Path& p) {
          detail::parse_organization(ctx, item, p, state);
        });
      }
    }
  } catch (const detail::TooManyNodes&) {
    errors.clear();  // whatever was found so far is noise next to this
    errors.push_back(ConfigError{shown_path, 0, 0, "",
                                 "the document expands to too many nodes (aliases used to multiply it?)"});
  } catch (const std::exception& e) {
    errors.push_back(ConfigError{shown_path, 0, 0, "", std::string("cannot load the configuration: ") + e.what()});
  }
  return finish(std::move(snap), std::move(errors), shown_path);
}

}  // namespace

LoadResult load_file(const std::string& path) {
  auto fail = [&](std::string message) {
    LoadResult r;
    r.errors.push_back(ConfigError{path, 0, 0, "", std::move(message)});
    return r;
  };
  std::error_code ec;
  auto st = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(st)) return fail("cannot read the configuration: no such file");
  if (!std::filesystem::is_regular_file(st)) return fail("cannot read the configuration: not a regular file");
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxFileBytes) return fail("the configuration file is larger than 1 GiB");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(std::string("cannot read the configuration: ") + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail("cannot read the configuration: read error");
  return load_text(std::move(ss).str(), path);
}

LoadResult load_string(const std::string& yaml_text, const std::string& virtual_path) {
  return load_text(yaml_text, virtual_path);
}

}  // namespace mf::config
