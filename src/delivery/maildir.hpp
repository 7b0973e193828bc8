// delivery/maildir.hpp — writes one message into one mailbox's Maildir (SPEC §3).
//
// Layout: <store_root>/<organization>/<local>@<domain>/{tmp,new,cur}; every directory that is
// missing is created with mode 0700 (store_root itself included). The file is
//   "Return-Path: <sender>\r\n" "Delivered-To: <address>\r\n" + the message bytes, untouched.
// Durability order: write tmp/<unique> (O_EXCL, 0600), fsync it, close (checked), rename it into
// new/<unique> (never replacing an existing file), fsync new/; every directory created on the way is
// made durable by an fsync of its parent. Only then does the call return the final path.
// Unique names follow the Maildir convention "<sec>.M<usec>P<pid>Q<counter>.<host>".
//
// SECURITY: organization and address come from configuration and the envelope and must never
// escape store_root: the address is lower-cased (Address::key()), and in both components every byte
// outside a-z 0-9 . _ + = - @ and non-ASCII (the UTF-8 of an SMTPUTF8 mailbox, already validated by
// Address::parse, is kept so that Maildir readers see the real name), and a leading '.', is written
// as %XX, so neither "/" nor ".." nor a control character can appear; an empty component is rejected. Directories below store_root are opened with O_NOFOLLOW
// and everything is reached through directory descriptors (openat/mkdirat/renameat), so a path
// component is never re-resolved. Header values are stripped of control characters.
//
// Errors (ENOSPC, EIO, EFBIG, a file where a directory should be, ...) come back as Result with the
// errno text; the tmp file is removed and nothing is left in new/. EINTR and short writes are
// handled. Blocking I/O: call it from a thread that may block (the delivery pool), never from an
// io_context thread that serves sessions. Thread-safe (names are unique per process and call).
#pragma once

#include "core/address.hpp"
#include "core/result.hpp"

#include <string>
#include <string_view>

namespace mf::delivery {

struct MaildirTarget {
  std::string store_root;
  std::string organization;
  Address mailbox;
};

// Delivers `message`; `return_path` is the envelope sender ("" for the null sender <>) and
// `delivered_to` the mailbox address. Returns the path of the file in new/.
Result<std::string> deliver_to_maildir(const MaildirTarget& target, std::string_view return_path,
                                       std::string_view delivered_to, std::string_view message);

// The escaped form of one path component (see SECURITY above); "" stays "" (callers reject it).
std::string maildir_component(std::string_view raw);

// "<store_root>/<organization>/<mailbox>" with both components escaped; no I/O. Fails on an empty
// component or one longer than a file name may be.
Result<std::string> maildir_directory(const MaildirTarget& target);

}  // namespace mf::delivery
