// Bounded input reads and all-or-nothing outputs. See files.h.
#include "ops/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "ops/error.h"

namespace cs {

namespace fs = std::filesystem;

namespace {

std::string size_str(uint64_t b) {
  char buf[32];
  if (b >= (uint64_t{1} << 30)) std::snprintf(buf, sizeof buf, "%.1f GB", static_cast<double>(b) / (1 << 30));
  else if (b >= (uint64_t{1} << 20)) std::snprintf(buf, sizeof buf, "%.0f MB", static_cast<double>(b) / (1 << 20));
  else std::snprintf(buf, sizeof buf, "%llu bytes", static_cast<unsigned long long>(b));
  return buf;
}

// What a non-regular file is, for the message.
const char* kind_of(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISFIFO(m)) return "a FIFO (named pipe)";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISSOCK(m)) return "a socket";
  return "not a plain file";
}

[[noreturn]] void refuse(const std::string& path, mode_t m) {
  throw Error(path + ": not a regular file (it is " + kind_of(m) + "); give the path of a file");
}

void check_stat(const std::string& path, const struct stat& st, uint64_t max_bytes) {
  if (!S_ISREG(st.st_mode)) refuse(path, st.st_mode);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  if (size > max_bytes)
    throw Error(path + ": " + size_str(size) + ", more than the " + size_str(max_bytes) +
                " this kind of file can be; is it the right file?");
}

std::atomic<uint64_t> g_counter{0};

std::string unique_suffix() {
  return std::to_string(::getpid()) + "." + std::to_string(g_counter++);
}

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The nearest existing ancestor of `p` (p itself excluded), or "" when there is none; throws
// when that ancestor is not a directory (a file in the middle of the path).
fs::path existing_ancestor(const fs::path& p, const std::string& flag, const std::string& whole) {
  fs::path a = fs::absolute(p).lexically_normal();
  if (a.has_filename()) a = a.parent_path();
  else a = a.parent_path().parent_path();  // "dir/" -> parent of dir
  for (;; a = a.parent_path()) {
    struct stat st;
    if (::stat(a.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode))
        throw Error(flag + " " + whole + ": " + a.string() + " is not a directory");
      return a;
    }
    if (errno != ENOENT) throw Error(flag + " " + whole + ": " + a.string() + ": " + std::strerror(errno));
    if (a == a.root_path() || a.empty()) return {};
  }
}

void require_writable_dir(const fs::path& d, const std::string& flag, const std::string& whole) {
  if (::access(d.c_str(), W_OK | X_OK) != 0)
    throw Error(flag + " " + whole + ": cannot write in " + d.string() + " (" + std::strerror(errno) + ")");
}

}  // namespace

uint64_t check_input_file(const std::string& path, uint64_t max_bytes) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) throw Error(path + ": cannot open: no such file");
    throw Error(path + ": cannot read (" + std::strerror(errno) + ")");
  }
  check_stat(path, st, max_bytes);
  return static_cast<uint64_t>(st.st_size);
}

std::string read_input_file(const std::string& path, uint64_t max_bytes) {
  check_input_file(path, max_bytes);
  // O_NONBLOCK: should the path have been swapped for a FIFO since the check, open returns at
  // once instead of waiting for a writer; fstat below then refuses it.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) throw Error(path + ": cannot open (" + std::strerror(errno) + ")");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw Error(path + ": cannot read (" + std::strerror(errno) + ")");
  check_stat(path, st, max_bytes);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < out.size()) {
    const ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(path + ": read failed (" + std::strerror(errno) + ")");
    if (n == 0) break;  // shrank while we read: keep what is there
    got += static_cast<size_t>(n);
  }
  out.resize(got);
  return out;
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  if (is_dir(path)) throw Error(path + ": is a directory; cannot write a file there");
  const std::string tmp = path + ".tmp." + unique_suffix();
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd < 0)
    throw Error(path + ": cannot write (" + std::strerror(errno) + "); check the directory exists and is writable");
  bool ok = true;
  int err = 0;
  for (size_t done = 0; ok && done < contents.size();) {
    const ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) ok = false, err = errno;
    else done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0 && ok) ok = false, err = errno;
  if (ok && ::rename(tmp.c_str(), path.c_str()) != 0) ok = false, err = errno;
  if (!ok) {
    ::unlink(tmp.c_str());
    throw Error(path + ": write failed (" + std::strerror(err) + ")");
  }
}

void check_output_file(const std::string& path, const std::string& flag) {
  if (path.empty()) throw UsageError(flag + " needs a file name");
  if (is_dir(path)) throw Error(flag + " " + path + ": is a directory; give a file name");
  const fs::path parent = fs::absolute(path).parent_path();
  struct stat st;
  if (::stat(parent.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
    throw Error(flag + " " + path + ": directory " + parent.string() + " does not exist");
  require_writable_dir(parent, flag, path);
}

void check_output_dir(const std::string& path, const std::string& flag, const std::vector<std::string>& files) {
  if (path.empty()) throw UsageError(flag + " needs a directory name");
  struct stat st;
  if (::stat(path.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) throw Error(flag + " " + path + ": exists and is not a directory");
    require_writable_dir(path, flag, path);
    for (const std::string& f : files)
      if (is_dir((fs::path(path) / f).string()))
        throw Error(flag + " " + path + ": " + f + " there is a directory; cannot write the file " + f);
    return;
  }
  const fs::path a = existing_ancestor(path, flag, path);
  if (a.empty()) throw Error(flag + " " + path + ": no existing directory above it");
  require_writable_dir(a, flag, path);
}

StagedDir::StagedDir(std::string target) : target_(std::move(target)) {
  check_output_dir(target_, "output directory");
  fs::path where;
  std::string stem;
  if (is_dir(target_)) {
    where = target_;
    stem = ".staging";
  } else {
    where = existing_ancestor(target_, "output directory", target_);
    stem = "." + fs::absolute(target_).lexically_normal().filename().string() + ".staging";
  }
  staging_ = (where / (stem + "." + unique_suffix())).string();
  if (::mkdir(staging_.c_str(), 0777) != 0)
    throw Error(target_ + ": cannot create a staging directory in " + where.string() + " (" + std::strerror(errno) + ")");
}

StagedDir::~StagedDir() {
  if (committed_) return;
  std::error_code ec;
  fs::remove_all(staging_, ec);  // never throws from a destructor
}

std::string StagedDir::path(const std::string& name) const { return (fs::path(staging_) / name).string(); }

void StagedDir::commit() {
  std::error_code ec;
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(staging_, ec)) names.push_back(e.path().filename().string());
  if (ec) throw Error(target_ + ": cannot list the staging directory (" + ec.message() + ")");
  if (!fs::exists(target_, ec)) {
    // A new directory: the staged one becomes it, whole, by one rename.
    fs::create_directories(fs::absolute(target_).lexically_normal().parent_path(), ec);
    if (::rename(staging_.c_str(), target_.c_str()) == 0) {
      committed_ = true;
      return;
    }
  }
  if (!is_dir(target_)) throw Error(target_ + ": exists and is not a directory");
  // Into an existing directory: check every name first, so a refusal moves nothing.
  for (const std::string& n : names)
    if (is_dir((fs::path(target_) / n).string()))
      throw Error((fs::path(target_) / n).string() + ": is a directory; cannot write the file " + n);
  for (const std::string& n : names) {
    const std::string to = (fs::path(target_) / n).string();
    if (::rename(path(n).c_str(), to.c_str()) != 0)
      throw Error(to + ": cannot move into place (" + std::strerror(errno) + ")");
  }
  fs::remove_all(staging_, ec);
  committed_ = true;
}

}  // namespace cs
