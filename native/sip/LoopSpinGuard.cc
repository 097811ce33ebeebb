#include "sip/LoopSpinGuard.h"

#include <dirent.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "sip/Sofia.h"

namespace px {
namespace {

// A turn that handled a message takes longer than this on any machine we run on (parsing alone
// is tens of microseconds); one that only called epoll_wait(0) and found nothing takes a few. So
// a turn this short is a spin, and only then does the guard wait: a busy loop pays no extra
// system call per turn.
constexpr auto kSpinTurn = std::chrono::microseconds(50);
constexpr int kWaitMs = 1;

struct DirCloser {
  void operator()(DIR* dir) const { closedir(dir); }
};
struct FileCloser {
  void operator()(FILE* file) const { fclose(file); }
};

int noWakeup(su_root_magic_t*, su_wait_t*, su_wakeup_arg_t*) {
  return 0;
}

bool isEpoll(const std::string& fdPath) {
  char target[64];
  const ssize_t n = readlink(fdPath.c_str(), target, sizeof target - 1);
  if (n <= 0) return false;
  target[n] = '\0';
  return std::string(target) == "anon_inode:[eventpoll]";
}

// Does the epoll set `fd` watch descriptor `probe` with inode `inode`?
bool watches(int fd, int probe, unsigned long inode) {
  const std::string path = "/proc/self/fdinfo/" + std::to_string(fd);
  std::unique_ptr<FILE, FileCloser> file(fopen(path.c_str(), "re"));
  if (!file) return false;
  char line[256];
  while (fgets(line, sizeof line, file.get())) {
    int tfd = -1;
    if (sscanf(line, "tfd: %d", &tfd) != 1 || tfd != probe) continue;
    const char* ino = strstr(line, "ino:");
    if (ino && std::strtoul(ino + 4, nullptr, 16) == inode) return true;
  }
  return false;
}

}  // namespace

int findPortEpollFd(su_root_t* root) {
  UniqueFd probe(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  struct stat probeStat {};
  if (!probe || fstat(probe.get(), &probeStat) != 0) return -1;
  su_wait_t wait[1];
  if (su_wait_create(wait, probe.get(), SU_WAIT_IN) != 0) return -1;
  const int index = su_root_register(root, wait, noWakeup, nullptr, 0);
  if (index <= 0) return -1;
  int found = -1;
  std::unique_ptr<DIR, DirCloser> dir(opendir("/proc/self/fd"));
  while (dir && found < 0) {
    const dirent* entry = readdir(dir.get());
    if (!entry) break;
    const int fd = std::atoi(entry->d_name);
    if (entry->d_name[0] == '.' || fd == probe.get()) continue;
    if (isEpoll(std::string("/proc/self/fd/") + entry->d_name) &&
        watches(fd, probe.get(), static_cast<unsigned long>(probeStat.st_ino))) {
      found = fd;
    }
  }
  su_root_deregister(root, index);
  return found;
}

LoopSpinGuard::LoopSpinGuard(su_root_t* root) : root_(root) {
  epollFd_ = findPortEpollFd(root);
  if (epollFd_ >= 0 && su_root_add_prepoll(root, &LoopSpinGuard::prepoll,
                                           reinterpret_cast<su_prepoll_magic_t*>(this)) != 0) {
    epollFd_ = -1;
  }
}

LoopSpinGuard::~LoopSpinGuard() {
  if (epollFd_ >= 0) su_root_remove_prepoll(root_);
}

void LoopSpinGuard::prepoll(su_prepoll_magic_t* magic, su_root_t*) {
  reinterpret_cast<LoopSpinGuard*>(magic)->beforeWait();
}

void LoopSpinGuard::beforeWait() {
  const auto now = std::chrono::steady_clock::now();
  if (now - lastTurn_ < kSpinTurn) {
    pollfd ready{epollFd_, POLLIN, 0};
    waits_++;
    if (poll(&ready, 1, kWaitMs) == 0) idleWaits_++;
    lastTurn_ = std::chrono::steady_clock::now();
  } else {
    lastTurn_ = now;
  }
}

}  // namespace px
