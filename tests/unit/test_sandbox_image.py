"""The sandbox image: its hand-made ELF program, root filesystem tar,
tag, and import (against the fake engine); the x86_64 program is run
directly, the aarch64 one under qemu-user when that is installed."""

import hashlib
import io
import json
import os
import platform
import shutil
import signal
import struct
import subprocess
import tarfile
import time

import pytest

from nova_docker import sandbox_image
from nova_docker.docker import errors

ELF_HEADER = struct.Struct('<16sHHIQQQIHHHHHH')
PROGRAM_HEADER = struct.Struct('<IIQQQQQQ')
PT_LOAD = 1
PT_GNU_STACK = 0x6474E551

ARCHES = [('x86_64', 62), ('amd64', 62), ('aarch64', 183), ('arm64', 183)]


def parse(elf):
    """(ELF header fields, [program header fields])."""
    header = ELF_HEADER.unpack_from(elf)
    phoff, phentsize, phnum = header[5], header[9], header[10]
    programs = [PROGRAM_HEADER.unpack_from(elf, phoff + i * phentsize)
                for i in range(phnum)]
    return header, programs


def offset_of(elf, vaddr):
    """File offset of a virtual address in the PT_LOAD segment."""
    _, programs = parse(elf)
    (load,) = [p for p in programs if p[0] == PT_LOAD]
    return vaddr - load[3] + load[2]


@pytest.mark.parametrize('arch,machine', ARCHES)
def test_elf_header(arch, machine):
    elf = sandbox_image.pause_program(arch)
    (ident, e_type, e_machine, e_version, entry, phoff, shoff, flags,
     ehsize, phentsize, phnum, shentsize, shnum, shstrndx) = parse(elf)[0]
    # Magic, ELFCLASS64, little endian, version 1, System V ABI, padding.
    assert ident == b'\x7fELF\x02\x01\x01\x00' + b'\x00' * 8
    assert e_type == 2  # ET_EXEC
    assert e_machine == machine
    assert e_version == 1
    assert (phoff, ehsize, phentsize) == (64, 64, 56)
    assert (shoff, shnum) == (0, 0)
    assert flags == 0


@pytest.mark.parametrize('arch,machine', ARCHES)
def test_one_segment_maps_the_whole_file_and_holds_the_entry(arch,
                                                             machine):
    elf = sandbox_image.pause_program(arch)
    header, programs = parse(elf)
    entry = header[4]
    loads = [p for p in programs if p[0] == PT_LOAD]
    assert len(loads) == 1
    (_, flags, offset, vaddr, paddr, filesz, memsz, align) = loads[0]
    assert flags == 5  # R + X, not W
    assert offset == 0 and filesz == memsz == len(elf)
    assert vaddr == paddr and vaddr % align == 0 and vaddr >= 0x10000
    assert vaddr + 64 + 2 * 56 <= entry < vaddr + filesz
    # No executable stack.
    (stack,) = [p for p in programs if p[0] == PT_GNU_STACK]
    assert stack[1] == 6  # R + W


def test_x86_64_code_loops_on_pause():
    elf = sandbox_image.pause_program('x86_64')
    entry = parse(elf)[0][4]
    code = elf[offset_of(elf, entry):]
    assert code[:1] == b'\xb8'  # mov eax, imm32
    assert struct.unpack_from('<I', code, 1) == (34,)  # __NR_pause
    assert code[5:7] == b'\x0f\x05'  # syscall
    assert code[7:8] == b'\xeb'  # jmp rel8 ...
    (rel,) = struct.unpack_from('<b', code, 8)
    assert 9 + rel == 0  # ... back to the entry point
    assert len(code) == 9


def test_aarch64_code_loops_on_ppoll():
    elf = sandbox_image.pause_program('aarch64')
    entry = parse(elf)[0][4]
    code = elf[offset_of(elf, entry):]
    words = struct.unpack('<%dI' % (len(code) // 4), code)
    # movz x0..x4, #0; movz x8, #73 (__NR_ppoll); svc #0; b entry
    assert words[:5] == tuple(0xD2800000 | r for r in range(5))
    assert words[5] == 0xD2800000 | 73 << 5 | 8
    assert words[6] == 0xD4000001
    assert words[7] >> 26 == 0b000101  # B
    imm26 = words[7] & 0x3FFFFFF
    offset = imm26 - (1 << 26) if imm26 & (1 << 25) else imm26
    assert 7 + offset == 0
    assert len(words) == 8


def test_go_and_uname_names_give_the_same_program():
    assert (sandbox_image.pause_program('amd64')
            == sandbox_image.pause_program('x86_64'))
    assert (sandbox_image.pause_program('arm64')
            == sandbox_image.pause_program('aarch64'))
    assert (sandbox_image.pause_program('x86_64')
            != sandbox_image.pause_program('aarch64'))


@pytest.mark.parametrize('arch', ['ppc64le', 's390x', 'armv7l', ''])
def test_unsupported_arch(arch):
    for call in (sandbox_image.pause_program, sandbox_image.rootfs_tar,
                 sandbox_image.image_name):
        with pytest.raises(ValueError) as info:
            call(arch)
        assert repr(arch) in str(info.value)
        assert '[docker] sandbox_image' in str(info.value)


def test_unsupported_arch_imports_nothing(fake_engine):
    from nova_docker.docker import DockerClient

    client = DockerClient(fake_engine.url)
    try:
        with pytest.raises(ValueError, match='ppc64le'):
            sandbox_image.ensure_image(client, 'ppc64le')
    finally:
        client.close()
    assert fake_engine.requests == []


@pytest.mark.parametrize('arch', ['x86_64', 'aarch64'])
def test_rootfs_tar_members(arch):
    data = sandbox_image.rootfs_tar(arch)
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        assert [m.name for m in members] == ['dev', 'etc', 'pause', 'proc',
                                             'sys']
        for m in members:
            assert (m.uid, m.gid, m.mtime) == (0, 0, 946684800)
            assert m.mode == 0o755
            assert m.pax_headers == {}
        by_name = {m.name: m for m in members}
        assert by_name['pause'].isreg()
        assert (tar.extractfile('pause').read()
                == sandbox_image.pause_program(arch))
        for name in ('dev', 'etc', 'proc', 'sys'):
            assert by_name[name].isdir()


def test_rootfs_tar_is_deterministic(monkeypatch):
    first = sandbox_image.rootfs_tar('x86_64')
    # Neither the clock nor the umask nor the user running it matter.
    monkeypatch.setattr(time, 'time', lambda: 2e9)
    old = os.umask(0o077)
    try:
        assert sandbox_image.rootfs_tar('x86_64') == first
    finally:
        os.umask(old)


def test_image_name_is_the_content_hash():
    for arch in ('x86_64', 'aarch64'):
        digest = hashlib.sha256(sandbox_image.rootfs_tar(arch)).hexdigest()
        assert (sandbox_image.image_name(arch)
                == 'nova-docker/sandbox:' + digest[:12])
    assert sandbox_image.SANDBOX_REPO == 'nova-docker/sandbox'
    assert (sandbox_image.image_name('amd64')
            == sandbox_image.image_name('x86_64'))
    assert (sandbox_image.image_name('x86_64')
            != sandbox_image.image_name('aarch64'))
    assert sandbox_image.image_name('arm64', repo='r').startswith('r:')


def test_tag_changes_with_the_content(monkeypatch):
    before = sandbox_image.image_name('x86_64')
    code = sandbox_image._x86_64_code()
    monkeypatch.setitem(sandbox_image._MACHINES, 'x86_64',
                        (62, lambda: code + b'\x90', 0x1000))
    after = sandbox_image.image_name('x86_64')
    assert after != before
    assert after.startswith('nova-docker/sandbox:')


# --- ensure_image against the fake engine ----------------------------------

def _lines(*objs):
    return [json.dumps(o).encode() + b'\r\n' for o in objs]


def test_ensure_image_present_imports_nothing(fake_engine, client):
    name = sandbox_image.image_name('x86_64')
    fake_engine.route('GET', '/images/.*/json', json={'Id': 'sha256:1'})
    assert sandbox_image.ensure_image(client, 'x86_64') == name
    assert fake_engine.requests_to('POST', '/images/create') == []
    (inspect,) = fake_engine.requests_to('GET', '/images/.*/json')
    assert inspect.path.endswith('/images/%s/json' % name)


def test_ensure_image_missing_imports_the_tar(fake_engine, client):
    fake_engine.route('GET', '/images/.*/json', status=404,
                      json={'message': 'No such image'})
    fake_engine.route('POST', '/images/create',
                      chunks=_lines({'status': 'sha256:abc'}))
    name = sandbox_image.ensure_image(client, 'arm64')
    assert name == sandbox_image.image_name('aarch64')
    (create,) = fake_engine.requests_to('POST', '/images/create')
    # The tag travels in repo: Podman 4 ignores the tag parameter.
    assert create.query == {'fromSrc': ['-'], 'repo': [name], 'tag': [''],
                            'changes': ['CMD ["/pause"]']}
    assert create.body == sandbox_image.rootfs_tar('aarch64')
    assert create.headers['Content-Type'] == 'application/x-tar'


def test_ensure_image_other_errors_propagate(fake_engine, client):
    fake_engine.route('GET', '/images/.*/json', status=500,
                      json={'message': 'boom'})
    with pytest.raises(errors.APIError, match='boom'):
        sandbox_image.ensure_image(client, 'x86_64')
    assert fake_engine.requests_to('POST', '/images/create') == []


def test_ensure_image_import_failure_propagates(fake_engine, client):
    fake_engine.route('GET', '/images/.*/json', status=404,
                      json={'message': 'No such image'})
    fake_engine.route('POST', '/images/create',
                      chunks=_lines({'error': 'disk full'}))
    with pytest.raises(errors.StreamError, match='disk full'):
        sandbox_image.ensure_image(client, 'x86_64')


# --- Running the programs ---------------------------------------------------

CLOCK_TICKS = os.sysconf('SC_CLK_TCK')


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks."""
    with open('/proc/%d/stat' % pid) as f:
        # comm, field 2, may hold spaces: split after its ')'.
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15


def check_blocks_idle_and_dies_on_sigkill(argv):
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        time.sleep(0.5)
        assert proc.poll() is None, proc.communicate()
        start = cpu_ticks(proc.pid)
        time.sleep(0.5)
        assert proc.poll() is None
        # A busy loop would burn ~0.5 s = CLOCK_TICKS / 2 ticks here.
        assert cpu_ticks(proc.pid) - start <= 2
    finally:
        proc.kill()
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    assert (out, err) == (b'', b'')


def _write(tmp_path, arch):
    path = tmp_path / ('pause-' + arch)
    path.write_bytes(sandbox_image.pause_program(arch))
    path.chmod(0o755)
    return str(path)


native_x86_64 = pytest.mark.skipif(platform.machine() != 'x86_64',
                                   reason='runs the x86_64 program natively')


@native_x86_64
def test_x86_64_program_runs_idle_until_killed(tmp_path):
    path = _write(tmp_path, 'x86_64')
    check_blocks_idle_and_dies_on_sigkill([path])


@native_x86_64
def test_x86_64_program_sleeps_in_pause(tmp_path):
    proc = subprocess.Popen([_write(tmp_path, 'x86_64')])
    try:
        time.sleep(0.3)
        with open('/proc/%d/stat' % proc.pid) as f:
            state = f.read().rsplit(')', 1)[1].split()[0]
        assert state == 'S'
        with open('/proc/%d/syscall' % proc.pid) as f:
            assert f.read().split()[0] == '34'  # blocked in pause
    finally:
        proc.kill()
        proc.wait()


def _qemu_aarch64():
    if platform.machine() == 'aarch64':
        return []
    for name in ('qemu-aarch64-static', 'qemu-aarch64'):
        path = shutil.which(name)
        if path:
            return [path]
    pytest.skip('neither qemu-aarch64-static nor qemu-aarch64 is on PATH '
                '(Debian: apt-get install qemu-user-static) to run the '
                'aarch64 program')


def test_aarch64_program_runs_idle_until_killed(tmp_path):
    # Under qemu-user the CPU time is qemu's: start-up aside, it is spent
    # in the emulated program's loop, so an idle program still shows ~0.
    argv = _qemu_aarch64() + [_write(tmp_path, 'aarch64')]
    check_blocks_idle_and_dies_on_sigkill(argv)


def test_aarch64_program_calls_ppoll(tmp_path):
    qemu = _qemu_aarch64()
    if not qemu:
        pytest.skip('native aarch64: covered by the idle test')
    proc = subprocess.Popen(qemu + ['-strace', _write(tmp_path, 'aarch64')],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        time.sleep(0.5)
        assert proc.poll() is None
    finally:
        proc.kill()
        out, _ = proc.communicate(timeout=10)
    # The one system call the program makes, still pending.
    assert b'ppoll(0,0,0,0,0,0)' in out
    assert out.count(b'(') == 1, out
