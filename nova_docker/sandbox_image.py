"""The sandbox image: what every instance's sandbox container runs.

A sandbox container (like a Kubernetes pod's pause container) owns an
instance's network namespace, hostname, resolv.conf and /etc/hosts; the
workload container joins it with ``NetworkMode: container:<sandbox>``.
All the sandbox has to do is stay alive, using no CPU.

No registry can be reached and no file of the host can be relied on, so
the image is made here: :func:`pause_program` assembles a tiny static
ELF executable, :func:`rootfs_tar` wraps it in a root filesystem and
:func:`ensure_image` imports that into the engine once, under a tag
derived from the content (:func:`image_name`), so a change of the
program gives a new image rather than a stale one.
"""

from __future__ import annotations

import hashlib
import io
import struct
import tarfile
import threading

from nova_docker.docker import errors

SANDBOX_REPO = 'nova-docker/sandbox'

# The engine's ``GET /info`` reports ``Architecture`` as uname's machine
# (x86_64, aarch64); ``GET /version`` and image configs use Go's names.
_ARCH_ALIASES = {
    'x86_64': 'x86_64', 'amd64': 'x86_64',
    'aarch64': 'aarch64', 'arm64': 'aarch64',
}

# Dockerfile instructions applied at import.
IMAGE_CHANGES = ('CMD ["/pause"]',)

# The signal to stop a sandbox container with: create it with
# ``Config.StopSignal = STOP_SIGNAL``. The program has no signal handlers
# and runs as PID 1 of its PID namespace, where signals without a handler
# are ignored, so SIGTERM does nothing and a stop waits out its whole
# timeout before the engine sends SIGKILL. The image cannot carry this:
# Docker 20.10's import refuses ``STOPSIGNAL`` among its changes ("stopsignal
# is not a valid change command").
STOP_SIGNAL = 'SIGKILL'

# Fixed metadata of every tar member, so the tar (and so the tag) depends
# on the content only. 2000-01-01T00:00:00Z.
_MTIME = 946684800

# One import at a time in this process; see ensure_image.
_import_lock = threading.Lock()


def _canonical_arch(arch: str) -> str:
    try:
        return _ARCH_ALIASES[arch.strip().lower()]
    except KeyError:
        raise ValueError(
            'nova-docker cannot build its sandbox image for the engine '
            'architecture %r (it can for x86_64/amd64 and aarch64/arm64); '
            'set the [docker] sandbox_image option to an image of your own '
            'whose command blocks forever' % (arch,)) from None


# --- Machine code ----------------------------------------------------------
#
# Why hand-assembled: the image must be made with nothing but Python (no
# compiler, no busybox, no registry), and the program is a loop around one
# system call, a few instructions long. No libc, no dynamic loader: the
# kernel jumps straight to the entry point. Each syscall sits inside the
# loop together with the loading of its arguments, because a syscall
# interrupted by a signal returns -EINTR in the register that held the
# syscall number (and, on aarch64, the first argument).

def _x86_64_code() -> bytes:
    # x86_64 Linux system calls: number in rax, arguments in rdi, rsi,
    # rdx, r10, r8, r9; `syscall` clobbers rcx and r11 and returns in rax.
    code = b''
    # loop:
    # mov eax, 34      B8 imm32: load pause's number (34); writing eax
    #                  also zeroes the upper half of rax.
    code += b'\xb8' + struct.pack('<I', 34)
    # syscall          0F 05: pause() sleeps until a signal handler has
    #                  run. There are none, so it never returns.
    code += b'\x0f\x05'
    # jmp loop         EB rel8: should it return anyway, call it again.
    #                  rel8 counts from the end of this 2-byte jmp.
    code += b'\xeb' + struct.pack('<b', -(len(code) + 2))
    return code


def _a64_movz(reg: int, imm16: int) -> int:
    # MOVZ Xd, #imm16 (64-bit, no shift): sf=1 opc=10 100101 hw=00
    # imm16 Rd -> 0xD2800000 | imm16 << 5 | Rd.
    return 0xD2800000 | (imm16 << 5) | reg


def _a64_svc0() -> int:
    # SVC #0: 11010100 000 imm16 000 01.
    return 0xD4000001


def _a64_b(words: int) -> int:
    # B <label>: 000101 imm26, imm26 = offset in 4-byte words from this
    # instruction, two's complement.
    return 0x14000000 | (words & 0x3FFFFFF)


def _aarch64_code() -> bytes:
    # aarch64 Linux system calls: number in x8, arguments in x0-x5, `svc
    # #0`, result in x0. The generic syscall table has no pause(), so the
    # loop calls ppoll(fds=NULL, nfds=0, tmo_p=NULL, sigmask=NULL, 0):
    # zero descriptors and no timeout sleeps until a signal arrives.
    words = [
        # loop:
        _a64_movz(0, 0),    # mov x0, #0   fds = NULL
        _a64_movz(1, 0),    # mov x1, #0   nfds = 0
        _a64_movz(2, 0),    # mov x2, #0   tmo_p = NULL: wait forever
        _a64_movz(3, 0),    # mov x3, #0   sigmask = NULL: keep the mask
        _a64_movz(4, 0),    # mov x4, #0   sigsetsize (unused with NULL)
        _a64_movz(8, 73),   # mov x8, #73  __NR_ppoll
        _a64_svc0(),        # svc #0       the call; sleeps
    ]
    words.append(_a64_b(-len(words)))  # b loop: again if it ever returns
    return struct.pack('<%dI' % len(words), *words)


# --- ELF -------------------------------------------------------------------
#
# The smallest executable Linux runs: the 64-byte ELF header, two program
# headers and the code. One PT_LOAD maps the whole file (headers
# included, offset 0) read+execute at BASE; the entry point is the first
# byte after the headers. PT_GNU_STACK asks for a non-executable stack
# (without it the kernel may map the stack executable). No section
# headers: the kernel does not read them.

_ELF_HEADER = struct.Struct('<16sHHIQQQIHHHHHH')
_PROGRAM_HEADER = struct.Struct('<IIQQQQQQ')

EM_X86_64 = 62
EM_AARCH64 = 183

# Per architecture: e_machine, machine code, segment alignment (aarch64
# kernels may use 64 KiB pages).
_MACHINES = {
    'x86_64': (EM_X86_64, _x86_64_code, 0x1000),
    'aarch64': (EM_AARCH64, _aarch64_code, 0x10000),
}

BASE = 0x400000     # load address; above mmap_min_addr, page aligned
ET_EXEC = 2         # a fixed-address executable
PT_LOAD = 1
PT_GNU_STACK = 0x6474E551
PF_X, PF_W, PF_R = 1, 2, 4


def pause_program(arch: str) -> bytes:
    """A static ELF64 executable for ``arch`` that blocks forever and
    uses no CPU. ``arch`` is the engine's ``Architecture`` (x86_64,
    aarch64) or a Go name (amd64, arm64); ValueError for others."""
    machine, assemble, align = _MACHINES[_canonical_arch(arch)]
    code = assemble()
    headers = _ELF_HEADER.size + 2 * _PROGRAM_HEADER.size
    size = headers + len(code)
    ident = (b'\x7fELF'
             + bytes([2,      # EI_CLASS: ELFCLASS64
                      1,      # EI_DATA: little endian
                      1,      # EI_VERSION: current
                      0,      # EI_OSABI: System V
                      0]))    # EI_ABIVERSION
    elf = _ELF_HEADER.pack(
        ident.ljust(16, b'\0'),
        ET_EXEC,
        machine,
        1,                    # e_version
        BASE + headers,       # e_entry: the code right after the headers
        _ELF_HEADER.size,     # e_phoff: program headers follow at once
        0,                    # e_shoff: no section headers
        0,                    # e_flags
        _ELF_HEADER.size,     # e_ehsize
        _PROGRAM_HEADER.size,  # e_phentsize
        2,                    # e_phnum
        0, 0, 0)              # e_shentsize, e_shnum, e_shstrndx
    load = _PROGRAM_HEADER.pack(
        PT_LOAD, PF_R | PF_X,
        0,                    # p_offset: from the start of the file
        BASE, BASE,           # p_vaddr, p_paddr
        size, size,           # p_filesz, p_memsz: the whole file
        align)
    stack = _PROGRAM_HEADER.pack(PT_GNU_STACK, PF_R | PF_W,
                                 0, 0, 0, 0, 0, 16)
    return elf + load + stack + code


# --- Image -----------------------------------------------------------------

def _member(name: str, kind: bytes, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = 0o755
    info.mtime = _MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = 'root'
    return info


def rootfs_tar(arch: str) -> bytes:
    """The sandbox's root filesystem: ``/pause`` (0755) and the empty
    directories ``/dev``, ``/etc``, ``/proc`` and ``/sys`` the runtime
    mounts over. Byte for byte the same on every call."""
    program = pause_program(arch)
    entries = {'dev': None, 'etc': None, 'pause': program, 'proc': None,
               'sys': None}
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode='w',
                      format=tarfile.USTAR_FORMAT) as tar:
        for name in sorted(entries):
            data = entries[name]
            if data is None:
                tar.addfile(_member(name, tarfile.DIRTYPE))
            else:
                tar.addfile(_member(name, tarfile.REGTYPE, len(data)),
                            io.BytesIO(data))
    return out.getvalue()


def _tag(tar: bytes) -> str:
    return hashlib.sha256(tar).hexdigest()[:12]


def image_name(arch: str, repo: str = SANDBOX_REPO) -> str:
    """``<repo>:<first 12 hex digits of the sha256 of rootfs_tar(arch)>``."""
    return '%s:%s' % (repo, _tag(rootfs_tar(arch)))


def ensure_image(client, arch: str, repo: str = SANDBOX_REPO) -> str:
    """Make sure the engine has the sandbox image for ``arch``; return
    its name (:func:`image_name`).

    ``client`` is a :class:`nova_docker.docker.DockerClient`. The image
    is imported only when ``inspect_image`` says NotFound; other errors
    propagate. Two callers racing (threads here are serialized, other
    processes are not) at worst import the same content twice: the tag
    then names the second copy, and the first is left untagged, unused
    or still serving containers made from it.
    """
    tar = rootfs_tar(arch)
    tag = _tag(tar)
    name = '%s:%s' % (repo, tag)
    with _import_lock:
        try:
            client.inspect_image(name)
        except errors.NotFound:
            # The whole reference in ``repo``: Podman 4's import ignores
            # ``tag`` (it tags :latest); Docker reads a tag in ``repo``.
            client.import_image(tar, name, '', changes=list(IMAGE_CHANGES))
    return name
