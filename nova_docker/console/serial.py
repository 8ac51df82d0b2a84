"""Serial consoles: a TCP port per instance, bridged to the terminal of
its workload (the engine's attach stream).

nova-serialproxy connects to ``[serial_console] proxyclient_address``
and the instance's port, as it does to the TCP serial port of a libvirt
guest, and relays a websocket to it byte for byte. The driver listens
there and, for each client, attaches to the workload running at that
moment: a reboot keeps the port, the next client reaches the new
process. The engine itself is never opened to the network.

One client at a time, as libvirt's TCP serial port in server mode: a
second one is told so in one line and closed. A client that goes away
leaves the workload running (its stdin stays open). Ports come from
nova's ``[serial_console] port_range`` allocator; an instance keeps its
port for as long as it exists (the sandbox's label records it, so a
restarted nova-compute listens on it again).

Threads: one accepting thread per instance and two per connected client,
native threads as nova-compute's own (nova 34 runs it without eventlet;
under eventlet's monkey patching they are green ones).
"""

from collections.abc import Callable
import socket
import threading

from nova.console import serial as nova_serial
from nova.console import type as ctype
from nova import exception
from nova import utils
from oslo_log import log as logging

from nova_docker import conf as docker_conf

CONF = docker_conf.CONF
LOG = logging.getLogger(__name__)

# Seconds a new client waits for the one before it to be let go: a
# client that reconnects at once finds its old session still ending.
HANDOVER_WAIT = 2.0
BUSY_LINE = (b'\r\nnova-docker: this serial console has a client already '
             b'(one at a time): close the other one and connect again.\r\n')


def address() -> str:
    """Where every console listens and nova-serialproxy connects."""
    return CONF.serial_console.proxyclient_address


def connection_info(port: int) -> ctype.ConsoleSerial:
    return ctype.ConsoleSerial(host=address(), port=port)


@utils.synchronized(nova_serial.SERIAL_LOCK)
def _reserve(host: str, port: int) -> None:
    # Taken again after a restart of nova-compute: nova's allocator must
    # not hand it to another instance (its set is in memory only).
    nova_serial.ALLOCATED_PORTS.add((host, port))


def _line(message: str) -> bytes:
    return ('\r\nnova-docker: %s\r\n' % message).encode('utf-8', 'replace')


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # closed already


class _Session:
    """One client bridged to one attach stream until either ends."""

    def __init__(self, client: socket.socket, stream):
        self.client = client
        self.stream = stream

    def run(self) -> None:
        pump = threading.Thread(target=self._input, daemon=True,
                                name='serial-console-input')
        pump.start()
        try:
            for data in self.stream.output():
                self.client.sendall(data)
        except OSError:
            pass  # the client went away
        finally:
            self.close()
        pump.join()

    def _input(self) -> None:
        try:
            while True:
                data = self.client.recv(65536)
                if not data:
                    break
                self.stream.send(data)
        except OSError:
            pass  # the client or the stream is gone
        finally:
            self.close()

    def close(self) -> None:
        """End both sides; the workload keeps running."""
        self.stream.close()
        _shutdown(self.client)


class Listener:
    """The serial console of one instance: a TCP port, one client at a
    time, each bridged to what ``attach()`` returns (an
    :class:`~nova_docker.docker.attach.AttachedStream`, or a nova
    exception whose message the client reads)."""

    def __init__(self, instance_uuid: str, host: str, port: int,
                 attach: Callable[[], object]):
        self.instance_uuid = instance_uuid
        self.port = port
        self._attach = attach
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family)
        self._busy = threading.Lock()
        self._session: _Session | None = None
        self._closed = False
        threading.Thread(target=self._accept, daemon=True,
                         name='serial-console-%s' % instance_uuid).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _peer = self._sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._serve, args=(client,),
                             daemon=True,
                             name='serial-console-client').start()

    @staticmethod
    def _refuse(client: socket.socket, line: bytes) -> None:
        try:
            client.sendall(line)
        except OSError:
            pass
        _shutdown(client)
        client.close()

    def _serve(self, client: socket.socket) -> None:
        if not self._busy.acquire(timeout=HANDOVER_WAIT):
            self._refuse(client, BUSY_LINE)
            return
        try:
            stream = self._attached(client)
            if stream is not None:
                self._session = _Session(client, stream)
                if self._closed:
                    self._session.close()
                self._session.run()
        finally:
            self._session = None
            client.close()
            self._busy.release()

    def _attached(self, client: socket.socket):
        """The workload's terminal, or None once the client was told why
        there is none."""
        if self._closed:
            self._refuse(client, _line('the console is closed'))
            return None
        try:
            return self._attach()
        except exception.NovaException as exc:
            self._refuse(client, _line(exc.format_message()))
        except Exception as exc:
            LOG.warning('Serial console of instance %s: could not attach '
                        'to its workload: %s', self.instance_uuid, exc)
            self._refuse(client, _line('the console is not available now, '
                                       'try again later'))
        return None

    def close(self) -> None:
        """Stop listening and end the connected client's session."""
        self._closed = True
        _shutdown(self._sock)
        self._sock.close()
        session = self._session
        if session is not None:
            session.close()


class SerialConsoles:
    """This host's serial console listeners, one per instance.

    :param attach: ``attach(instance_uuid)``, the terminal of the
        instance's running workload.
    """

    def __init__(self, attach: Callable[[str], object]):
        self._attach = attach
        self._listeners: dict[str, Listener] = {}
        self._lock = threading.Lock()

    def port(self, instance_uuid: str) -> int | None:
        listener = self._listeners.get(instance_uuid)
        return listener.port if listener else None

    def open(self, instance_uuid: str) -> int:
        """The instance's port: the one it listens on, else a new one from
        ``[serial_console] port_range``, listened on from now."""
        with self._lock:
            if instance_uuid in self._listeners:
                return self._listeners[instance_uuid].port
            host = address()
            port = nova_serial.acquire_port(host)
            try:
                self._listen(instance_uuid, host, port)
            except OSError as exc:
                nova_serial.release_port(host, port)
                raise exception.SocketPortInUseException(
                    host=host, port=port, error=exc) from exc
            return port

    def ensure(self, instance_uuid: str, port: int) -> None:
        """Listen on the instance's recorded ``port`` if not yet (after a
        restart of nova-compute); SocketPortInUseException if something
        else holds it."""
        with self._lock:
            if instance_uuid in self._listeners:
                return
            host = address()
            try:
                self._listen(instance_uuid, host, port)
            except OSError as exc:
                raise exception.SocketPortInUseException(
                    host=host, port=port, error=exc) from exc
            _reserve(host, port)

    def _listen(self, instance_uuid: str, host: str, port: int) -> None:
        self._listeners[instance_uuid] = Listener(
            instance_uuid, host, port, lambda: self._attach(instance_uuid))
        LOG.info('Serial console of instance %s listens on %s:%d',
                 instance_uuid, host, port)

    def close(self, instance_uuid: str) -> None:
        """Stop the instance's console and give its port back."""
        with self._lock:
            listener = self._listeners.pop(instance_uuid, None)
        if listener is not None:
            listener.close()
            nova_serial.release_port(address(), listener.port)

    def close_all(self) -> None:
        """Stop every console (nova-compute stops); the ports stay
        recorded on the instances for the next start."""
        for instance_uuid in list(self._listeners):
            self.close(instance_uuid)
