// Safetensors: the header parser on the bytes of a whole file, then, when it accepts them, the
// file opened for real (from a memfd) and every tensor read in its dtype.
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "model/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  return cs::fuzz::run([&] {
    const cs::SafetensorsHeader h = cs::parse_safetensors_header(data, size, "model.safetensors");
    const int fd = ::memfd_create("fuzz.safetensors", MFD_CLOEXEC);
    if (fd < 0) return;
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    if (::write(fd, data, size) != static_cast<ssize_t>(size)) return;
    const cs::SafetensorsFile f("/proc/self/fd/" + std::to_string(fd));
    if (f.tensors().size() != h.tensors.size()) __builtin_trap();  // the same parser, the same answer
    for (const cs::TensorInfo& t : f.tensors()) {
      try {
        f.read_f32(t.name);
      } catch (const cs::Error&) {
        f.read_i64(t.name);  // an integer dtype
      }
    }
  });
}
