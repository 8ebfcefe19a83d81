#!/usr/bin/python3
"""Stand-ins for systemd-hostnamed and systemd's manager on a private test bus, for BusTests.

    fake-system-services.py --address ADDRESS --log LOG --ready READY [--lifetime SECONDS]

Connects to the bus at ADDRESS (a dbus-daemon the test started; never the real system bus),
exports the objects, owns org.freedesktop.hostname1 and org.freedesktop.systemd1, then creates
READY. Every method call is appended to LOG, one line each, *before* it is answered:

    /org/freedesktop/hostname1 org.freedesktop.hostname1.SetHostname(sb) ["clone-42", false]

(object path, interface.member, the signature the caller actually sent, the arguments as JSON).
It exits when the bus goes away or after --lifetime seconds (default 120), whichever is first.

Behaviour the tests rely on:
- hostname1: SetHostname / SetStaticHostname change the Hostname / StaticHostname properties
  (both start as "golden-template"). SetHostname("denied.example") answers AccessDenied with a
  two-line message. SetStaticHostname("never-answered.example") never answers.
  Properties.Get / GetAll; an unknown property answers UnknownProperty.
- systemd1.Manager: Subscribe (AlreadySubscribed on a second call from the same client, as
  systemd does); StartUnit / TryRestartUnit return /org/freedesktop/systemd1/job/N. JobRemoved
  (u id, o job, s unit, s result) is only emitted while someone is subscribed, as systemd does:
  ~30 ms after the reply, preceded by a JobRemoved of another job of the same unit with result
  "canceled" (so a client must match the job path, not the unit name). Result "failed" for
  failing.service, "done" otherwise; instant.service finishes before the reply is sent;
  hanging.service never finishes; missing.service answers NoSuchUnit; an unknown job mode
  answers InvalidArgs. GetUnit answers NoSuchUnit for units not loaded.
- Units at /org/freedesktop/systemd1/unit/<escaped name> with org.freedesktop.systemd1.Unit
  ActiveState. sshd.service starts inactive, dbus.service active.
- NetworkManager: org.freedesktop.NetworkManager.Settings.ReloadConnections() at
  /org/freedesktop/NetworkManager/Settings returns true; systemd-networkd:
  org.freedesktop.network1.Manager.Reload() at /org/freedesktop/network1.
- org.sanitizeclone.Test.Echo(s, b, u, o) returns its arguments; AllTypes() returns one value of
  every type the client decodes.
"""
import argparse
import json

import dbus
import dbus.bus
import dbus.service
from dbus.mainloop.glib import DBusGMainLoop
from gi.repository import GLib

HOSTNAME = "org.freedesktop.hostname1"
SYSTEMD = "org.freedesktop.systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
PROPERTIES = "org.freedesktop.DBus.Properties"
TEST = "org.sanitizeclone.Test"
NETWORK_MANAGER = "org.freedesktop.NetworkManager"
NETWORKD = "org.freedesktop.network1"
JOB_MODES = {"replace", "fail", "isolate", "ignore-dependencies", "ignore-requirements", "flush",
             "replace-irreversibly", "triggering", "restart-dependencies"}


class BusFailure(dbus.DBusException):
    def __init__(self, name, message):
        super().__init__(message, name=name)


def plain(value):
    """A D-Bus value as plain JSON-able Python (Boolean is an int subclass: test it first)."""
    if isinstance(value, dbus.Boolean):
        return bool(value)
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return repr(value)


class CallLog:
    def __init__(self, path):
        self.file = open(path, "a", buffering=1)

    def record(self, message):
        self.file.write("%s %s.%s(%s) %s\n" % (
            message.get_path(), message.get_interface(), message.get_member(), message.get_signature(),
            json.dumps(plain(message.get_args_list()))))
        self.file.flush()


def unit_path(name):
    """systemd's bus_label_escape: letters and digits stay, every other byte becomes _xx."""
    label = "".join(c if c.isascii() and c.isalnum() else "_%02x" % b
                    for c in name for b in c.encode()) or "_"
    return "/org/freedesktop/systemd1/unit/" + label


class Hostnamed(dbus.service.Object):
    def __init__(self, bus, log):
        super().__init__(bus, "/org/freedesktop/hostname1")
        self.log = log
        self.properties = {"Hostname": "golden-template", "StaticHostname": "golden-template"}
        self.unanswered = []

    @dbus.service.method(HOSTNAME, in_signature="sb", message_keyword="message")
    def SetHostname(self, name, interactive, message):
        self.log.record(message)
        if name == "denied.example":
            raise BusFailure("org.freedesktop.DBus.Error.AccessDenied", "Access denied\nby the test policy")
        self.properties["Hostname"] = str(name)

    @dbus.service.method(HOSTNAME, in_signature="sb", message_keyword="message",
                         async_callbacks=("reply", "error"))
    def SetStaticHostname(self, name, interactive, message, reply, error):
        self.log.record(message)
        if name == "never-answered.example":
            self.unanswered.append((reply, error))
            return
        self.properties["StaticHostname"] = str(name)
        reply()

    @dbus.service.method(PROPERTIES, in_signature="ss", out_signature="v", message_keyword="message")
    def Get(self, interface, name, message):
        self.log.record(message)
        if interface != HOSTNAME or name not in self.properties:
            raise BusFailure("org.freedesktop.DBus.Error.UnknownProperty", "Unknown property %s.%s" % (interface, name))
        return dbus.String(self.properties[name])

    @dbus.service.method(PROPERTIES, in_signature="s", out_signature="a{sv}", message_keyword="message")
    def GetAll(self, interface, message):
        self.log.record(message)
        return {name: dbus.String(value) for name, value in sorted(self.properties.items())}

    @dbus.service.method(TEST, in_signature="sbuo", out_signature="sbuo", message_keyword="message")
    def Echo(self, text, flag, number, path, message):
        self.log.record(message)
        return (text, flag, number, path)

    @dbus.service.method(TEST, in_signature="", out_signature="ynqiuxtdbsog(su)a{sv}av", message_keyword="message")
    def AllTypes(self, message):
        self.log.record(message)
        return (dbus.Byte(7), -16, 16, -32, 32, -64, 64, 0.5, True, "text",
                dbus.ObjectPath("/a/path"), dbus.Signature("a{sv}"), ("inner", dbus.UInt32(3)),
                {"answer": dbus.UInt32(42)}, [dbus.String("x", variant_level=1)])


class Units(dbus.service.FallbackObject):
    """Every unit object below /org/freedesktop/systemd1/unit."""

    def __init__(self, bus, log):
        super().__init__(bus, "/org/freedesktop/systemd1/unit")
        self.log = log
        self.states = {"sshd.service": "inactive", "dbus.service": "active", "failing.service": "inactive",
                       "instant.service": "inactive", "hanging.service": "inactive"}

    @dbus.service.method(PROPERTIES, in_signature="ss", out_signature="v", message_keyword="message")
    def Get(self, interface, name, message):
        self.log.record(message)
        unit = next((u for u in self.states if unit_path(u) == message.get_path()), None)
        if unit is None:
            raise BusFailure("org.freedesktop.DBus.Error.UnknownObject", "Unknown object '%s'." % message.get_path())
        if interface != UNIT or name != "ActiveState":
            raise BusFailure("org.freedesktop.DBus.Error.UnknownProperty", "Unknown property %s.%s" % (interface, name))
        return dbus.String(self.states[unit])


class Manager(dbus.service.Object):
    def __init__(self, bus, log, units):
        super().__init__(bus, "/org/freedesktop/systemd1")
        self.log = log
        self.units = units
        self.subscribers = set()
        self.last_job = 40

    @dbus.service.method(MANAGER, in_signature="", message_keyword="message")
    def Subscribe(self, message):
        self.log.record(message)
        if message.get_sender() in self.subscribers:
            raise BusFailure("org.freedesktop.systemd1.AlreadySubscribed", "Client is already subscribed.")
        self.subscribers.add(message.get_sender())

    @dbus.service.method(MANAGER, in_signature="ss", out_signature="o", message_keyword="message")
    def StartUnit(self, name, mode, message):
        self.log.record(message)
        return self.queue(str(name), str(mode), "active")

    @dbus.service.method(MANAGER, in_signature="ss", out_signature="o", message_keyword="message")
    def RestartUnit(self, name, mode, message):
        self.log.record(message)
        return self.queue(str(name), str(mode), "active")

    @dbus.service.method(MANAGER, in_signature="ss", out_signature="o", message_keyword="message")
    def TryRestartUnit(self, name, mode, message):
        self.log.record(message)
        return self.queue(str(name), str(mode), None)

    @dbus.service.method(MANAGER, in_signature="s", out_signature="o", message_keyword="message")
    def GetUnit(self, name, message):
        self.log.record(message)
        if name not in self.units.states:
            raise BusFailure("org.freedesktop.systemd1.NoSuchUnit", "Unit %s not loaded." % name)
        return dbus.ObjectPath(unit_path(name))

    @dbus.service.signal(MANAGER, signature="uoss")
    def JobRemoved(self, job_id, job, unit, result):
        pass

    def queue(self, name, mode, state_when_done):
        if mode not in JOB_MODES:
            raise BusFailure("org.freedesktop.DBus.Error.InvalidArgs", "Job mode %s invalid." % mode)
        if name == "missing.service":
            raise BusFailure("org.freedesktop.systemd1.NoSuchUnit", "Unit %s not found." % name)
        self.units.states.setdefault(name, "inactive")
        self.last_job += 1
        job_id = self.last_job
        job = dbus.ObjectPath("/org/freedesktop/systemd1/job/%d" % job_id)
        result = "failed" if name == "failing.service" else "done"
        if name == "instant.service":
            self.finish(job_id, job, name, result, state_when_done)
        elif name != "hanging.service":
            def later():
                other = job_id + 1000
                self.emit(other, dbus.ObjectPath("/org/freedesktop/systemd1/job/%d" % other), name, "canceled")
                self.finish(job_id, job, name, result, state_when_done)
                return False
            GLib.timeout_add(30, later)
        return job

    def finish(self, job_id, job, name, result, state_when_done):
        if state_when_done is not None:
            self.units.states[name] = state_when_done if result == "done" else "failed"
        self.emit(job_id, job, name, result)

    def emit(self, job_id, job, name, result):
        if self.subscribers:
            self.JobRemoved(dbus.UInt32(job_id), job, name, result)


class NetworkManagerSettings(dbus.service.Object):
    def __init__(self, bus, log):
        super().__init__(bus, "/org/freedesktop/NetworkManager/Settings")
        self.log = log

    @dbus.service.method(NETWORK_MANAGER + ".Settings", in_signature="", out_signature="b", message_keyword="message")
    def ReloadConnections(self, message):
        self.log.record(message)
        return True


class Networkd(dbus.service.Object):
    def __init__(self, bus, log):
        super().__init__(bus, "/org/freedesktop/network1")
        self.log = log

    @dbus.service.method(NETWORKD + ".Manager", in_signature="", message_keyword="message")
    def Reload(self, message):
        self.log.record(message)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", required=True)
    parser.add_argument("--log", required=True)
    parser.add_argument("--ready", required=True)
    parser.add_argument("--lifetime", type=int, default=120)
    options = parser.parse_args()

    DBusGMainLoop(set_as_default=True)
    loop = GLib.MainLoop()
    bus = dbus.bus.BusConnection(options.address)
    bus.set_exit_on_disconnect(False)
    bus.call_on_disconnection(lambda connection: loop.quit())
    log = CallLog(options.log)
    units = Units(bus, log)
    exported = [Hostnamed(bus, log), units, Manager(bus, log, units), NetworkManagerSettings(bus, log), Networkd(bus, log)]
    names = [dbus.service.BusName(name, bus, do_not_queue=True) for name in (HOSTNAME, SYSTEMD, NETWORK_MANAGER, NETWORKD)]
    GLib.timeout_add_seconds(options.lifetime, loop.quit)
    with open(options.ready, "w") as ready:
        ready.write("ready\n")
    loop.run()
    del exported, names


if __name__ == "__main__":
    main()
