"""The serial runner: a board on the user's desk. The RIOT firmware is
flashed with RIOT's `make flash-only` (the board's own programmer), then the
board's console is opened with pyserial and driven with the live-console
protocol (runners/console.py): start, trials, end marker; boot noise
tolerated, a lost line retried once, a timeout quoting the console's tail.

Options (command-line variables): port= (default: the only USB serial port
present), baudrate= (default 115200, RIOT's), flash= (default yes; no: the
board already runs this firmware)."""

import errno

from .. import riot
from ..errors import ConfigError, RunError
from ..files import write_text
from .base import Runner
from .console import ConsoleClosed, Session, Transport

DEFAULT_BAUDRATE = 115200
# Ports a board's USB console shows up as, for the default port=.
USB_PREFIXES = ("/dev/ttyACM", "/dev/ttyUSB", "/dev/cu.usbmodem", "/dev/cu.usbserial")


class SerialTransport(Transport):
    def __init__(self, port):
        self.port = port
        self.what = f"serial port {port.port}"

    def write(self, data):
        self.port.write(data)
        self.port.flush()

    def read(self, timeout):
        import serial

        self.port.timeout = max(0.0, timeout)
        try:
            waiting = self.port.in_waiting
            return self.port.read(max(1, waiting))
        except (serial.SerialException, OSError) as e:
            raise ConsoleClosed(f"{self.what} went away ({e})") from None

    def close(self):
        self.port.close()


def present_ports():
    from serial.tools import list_ports

    return sorted(p.device for p in list_ports.comports())


def default_port(board):
    usb = [p for p in present_ports() if p.startswith(USB_PREFIXES)]
    if len(usb) == 1:
        return usb[0]
    if not usb:
        raise ConfigError(f"board '{board.name}' (runner=serial): no USB serial port found; plug the board in, "
                          "or name its port: port=/dev/ttyACM0")
    raise ConfigError(f"board '{board.name}' (runner=serial): several serial ports ({', '.join(usb)}); "
                      "choose one with port=")


def open_port(board, name, baudrate):
    """Open the port exclusively; a clear error if it is absent or busy."""
    import serial

    try:
        return serial.Serial(name, baudrate=baudrate, timeout=0.2, exclusive=True)
    except serial.SerialException as e:
        err = getattr(e, "errno", None)
        if err == errno.ENOENT:
            present = present_ports()
            raise RunError(f"board '{board.name}': serial port {name} does not exist (port=); present: "
                           f"{', '.join(present) or 'none'}") from None
        if err in (errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK) or "exclusively lock" in str(e):
            raise RunError(f"board '{board.name}': serial port {name} is busy: another program holds it "
                           "(a terminal such as `make term`, screen, minicom?); close it and run again") from None
        if err == errno.EACCES:
            raise RunError(f"board '{board.name}': no permission to open serial port {name} (add yourself to "
                           "the 'dialout' group)") from None
        raise RunError(f"board '{board.name}': cannot open serial port {name}: {e}") from None


class SerialRunner(Runner):
    name = "serial"
    riot = True
    deterministic = False  # a real board: every run is a new measurement
    options = ("port", "baudrate", "flash")

    def run(self, elf_path, log_path):
        port = self.opts.get("port") or default_port(self.board)
        baudrate = int(self.opts.get("baudrate") or DEFAULT_BAUDRATE)
        if _yes(self.opts.get("flash", "yes")):
            riot.flash(self.board, elf_path, port=port, timeout=self.timeout)
        transport = SerialTransport(open_port(self.board, port, baudrate))
        try:
            log = Session(transport, self.timeout, self.fail).evaluate()
        finally:
            transport.close()
        write_text(log_path, log)
        return log


def _yes(value):
    v = str(value).strip().lower()
    if v in ("1", "yes", "true", "on"):
        return True
    if v in ("0", "no", "false", "off"):
        return False
    raise ConfigError(f"flash={value}: yes or no")
