#!/usr/bin/env python3
"""Runs one federated job as separate processes and measures it the same way for both systems.

    harness.py flower --model logreg|mlp --split iid|noniid [--rounds 30] --work DIR
    harness.py flower-deployment --model logreg|mlp --split iid|noniid [--rounds 30] --work DIR
    harness.py flower-sensors --sensors JOB.json --work DIR
    harness.py fedmq --spec SPEC.json
    harness.py idle-flower --seconds S --work DIR
    harness.py idle-fedmq --spec SPEC.json --seconds S

`fedmq bench flower` writes SPEC.json (the broker, aggregator and agent command lines, the
port, the job and the aggregator's metrics.jsonl) and reads the JSON this prints:
final accuracy and the curve, wall time of the rounds (from all clients connected to the
last round's evaluation), wall time from launching the first process to that evaluation,
CPU seconds and peak RSS of every process (wait4's rusage, taken by launch.c, which forks it:
see there why), and the
bytes sent on the loopback interface during the run (/proc/net/dev, so protocol overhead
counts) divided by the rounds, and the bytes the clients' own connections carried (`ss`).
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

HERE = pathlib.Path(__file__).resolve().parent
PYTHON = sys.executable


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def loopback_bytes():
    for line in pathlib.Path("/proc/net/dev").read_text().splitlines():
        name, _, counters = line.partition(":")
        if name.strip() == "lo":
            return int(counters.split()[8])  # transmitted bytes
    raise RuntimeError("no loopback interface in /proc/net/dev")


def wait_for_port(port, seconds=20):
    deadline = time.time() + seconds
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {seconds} s")


class Poller:
    """Calls `sample` every 0.2 s on a thread of its own until `stop`, which samples once more."""

    def start_polling(self):
        self.running = True
        self.thread = threading.Thread(target=self.poll, daemon=True)
        self.thread.start()

    def poll(self):
        while self.running:
            self.sample()
            time.sleep(0.2)

    def stop_polling(self):
        self.running = False
        self.thread.join()
        self.sample()


class ClientLinkCounter(Poller):
    """Bytes the clients' own TCP connections to the server port carried (sent + received, TCP
    payload), polled from `ss` every 0.2 s: what would cross each device's link. The broker's
    hop to a co-located aggregator is left out, which the loopback total cannot do."""

    def __init__(self, port, pids):
        self.port, self.pids, self.peak = port, set(pids), {}
        self.start_polling()

    def sample(self):
        listing = subprocess.run(["ss", "-tinpH", "state", "established", f"( dport = :{self.port} )"],
                                 capture_output=True, text=True).stdout.splitlines()
        for connection, info in zip(listing[::2], listing[1::2]):
            pid = next((int(part[4:]) for part in connection.replace(",", " ").split() if part.startswith("pid=")), None)
            if pid not in self.pids:
                continue
            counters = dict(field.split(":", 1) for field in info.split() if field.startswith("bytes_"))
            key = (pid, connection.split()[2])
            total = int(counters.get("bytes_sent", 0)) + int(counters.get("bytes_received", 0))
            self.peak[key] = max(self.peak.get(key, 0), total)

    def stop(self):
        self.stop_polling()
        return sum(self.peak.values())


class Launched:
    """A measured process (`pid`) and the launch.c process that forked it and reports its
    rusage (`launcher`, which the harness starts, signals and reaps)."""

    def __init__(self, launcher, report):
        self.launcher, self.report = launcher, pathlib.Path(report)
        pid_file = pathlib.Path(f"{report}.pid")
        deadline = time.time() + 20
        while not (pid_file.exists() and pid_file.read_text().endswith("\n")):
            if launcher.poll() is not None or time.time() > deadline:
                raise RuntimeError(f"launch.c did not start {report} (exit {launcher.poll()})")
            time.sleep(0.001)
        self.pid = int(pid_file.read_text())

    def usage(self):
        """Peak RSS in KiB and CPU seconds of the measured process, from launch.c's report."""
        maxrss, user, system = self.report.read_text().split()
        return int(maxrss), float(user) + float(system)


def launcher(directory):
    """bench/flower/launch.c, compiled into `directory`."""
    binary = pathlib.Path(directory) / "launch"
    if not binary.exists():
        compiler = shutil.which("cc") or shutil.which("clang")
        if compiler is None:
            raise RuntimeError("no C compiler (cc or clang) to build bench/flower/launch.c")
        subprocess.run([compiler, "-O2", "-o", str(binary), str(HERE / "launch.c")], check=True)
    return binary


class Processes:
    """Children of one run, each forked by launch.c, which reaps it with wait4: each one's CPU
    time and peak RSS are exact."""

    def __init__(self, logs):
        self.logs = pathlib.Path(logs)
        self.logs.mkdir(parents=True, exist_ok=True)
        self.launch = launcher(self.logs)
        self.running = {}
        self.usage = {}

    def start(self, name, role, argv, cwd=None):
        log = open(self.logs / f"{name}.log", "wb")
        report = self.logs / f"{name}.rusage"
        process = subprocess.Popen([str(self.launch), str(report), *argv], stdout=log, stderr=subprocess.STDOUT, cwd=cwd)
        launched = Launched(process, report)
        self.running[name] = (launched, role)
        return launched

    def reap(self, name, timeout=None):
        """Waits for one child (up to timeout seconds, then SIGTERM, then SIGKILL)."""
        launched, role = self.running.pop(name)
        process = launched.launcher
        deadline = None if timeout is None else time.time() + timeout
        stage = 0
        while True:
            pid, status, _ = os.wait4(process.pid, os.WNOHANG)
            if pid == process.pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                maxrss, cpu = launched.usage()
                self.usage[name] = {"role": role, "cpu": cpu, "peak_rss_mib": maxrss / 1024, "exit": process.returncode}
                return self.usage[name]
            if deadline is not None and time.time() > deadline:
                if stage == 0:
                    os.kill(process.pid, signal.SIGTERM)  # launch.c passes it on
                else:
                    os.kill(launched.pid, signal.SIGKILL)
                stage += 1
                deadline = time.time() + 5
            time.sleep(0.01)

    def reap_all(self, timeout):
        for name in list(self.running):
            self.reap(name, timeout)

    def stop_all(self):
        # os.kill, not Popen.send_signal: that polls, which would reap the child before wait4 can.
        for launched, _ in self.running.values():
            os.kill(launched.launcher.pid, signal.SIGTERM)
        self.reap_all(timeout=5)

    def summary(self, server_role, client_role):
        def peak(role):
            return max(u["peak_rss_mib"] for u in self.usage.values() if u["role"] == role)
        return {"cpu_seconds": sum(u["cpu"] for u in self.usage.values()),
                "cpu_by_role": {role: sum(u["cpu"] for u in self.usage.values() if u["role"] == role)
                                for role in sorted({u["role"] for u in self.usage.values()})},
                "server_peak_rss_mib": peak(server_role), "client_peak_rss_mib": peak(client_role),
                "processes": len(self.usage)}


def cpu_of(pid):
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid):
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle(process, seconds):
    """CPU seconds a connected client uses in `seconds` with no round open, and its RSS after."""
    time.sleep(3)  # connected and settled
    before = cpu_of(process.pid)
    time.sleep(seconds)
    return {"idle_cpu_seconds": cpu_of(process.pid) - before, "idle_rss_mib": rss_mib(process.pid), "seconds": seconds}


def run_flower(args):
    return run_flower_job(
        args, lambda port, out: [PYTHON, str(HERE / "server.py"), "--port", str(port), "--model", args.model, "--rounds", str(args.rounds),
                                 "--out", str(out)],
        lambda port, k: [PYTHON, str(HERE / "client.py"), "--port", str(port), "--split", args.split, "--client", str(k)])


def run_flower_sensors(args):
    """The sensors benchmark's Flower + PyTorch job, from the file `fedmq bench sensors` wrote."""
    job = json.loads(pathlib.Path(args.sensors).read_text())
    args.rounds = job["rounds"]
    common = ["--spec", job["spec"]]
    return run_flower_job(
        args, lambda port, out: [PYTHON, str(HERE / "sensors.py"), "server", "--port", str(port), *common, "--initial", job["initial"],
                                 "--test", job["test"], "--rounds", str(job["rounds"]), "--clients", str(len(job["shards"])),
                                 "--out", str(out)],
        lambda port, k: [PYTHON, str(HERE / "sensors.py"), "client", "--port", str(port), *common, "--data", job["shards"][k],
                         "--training", job["training"], "--client", str(k)],
        clients=len(job["shards"]))


def run_flower_job(args, server_argv, client_argv, clients=10):
    """A Flower server and its clients as processes (their command lines from `server_argv(port,
    result_path)` and `client_argv(port, k)`), measured like FedMQ's."""
    work = pathlib.Path(args.work)
    port = free_port()
    processes = Processes(work / "logs")
    result_path = work / "server-result.json"
    launched, bytes_before = time.time(), loopback_bytes()
    try:
        processes.start("server", "server", server_argv(port, result_path), cwd=HERE)
        clients = [processes.start(f"client-{k}", "client", client_argv(port, k), cwd=HERE) for k in range(clients)]
        links = ClientLinkCounter(port, [client.pid for client in clients])
        server = processes.reap("server", timeout=args.timeout)
        bytes_after, link_bytes = loopback_bytes(), links.stop()
        processes.reap_all(timeout=10)
    finally:
        processes.stop_all()
    if server["exit"] != 0:
        raise RuntimeError(f"the Flower server exited with {server['exit']}; see {work / 'logs'}")
    curve = json.loads(result_path.read_text())
    return {"accuracy": curve["accuracy"][-1], "curve": curve["accuracy"],
            "rounds_wall": curve["evaluated"][-1] - curve["all_connected"],
            "launch_to_result": curve["evaluated"][-1] - launched,
            "loopback_bytes_per_round": (bytes_after - bytes_before) / args.rounds,
            "client_link_bytes_per_round": link_bytes / args.rounds,
            **processes.summary("server", "client")}


class SessionSampler(Poller):
    """Peak resident memory and CPU of whole process sessions (a process and every descendant
    it started), sampled from /proc every 0.2 s: a Flower SuperNode runs its ClientApp in
    processes of its own, and together they are what one device runs."""

    def __init__(self, sessions):
        self.sessions = {sid: {"peak_rss_mib": 0.0, "cpu": {}} for sid in sessions}
        self.start_polling()

    def sample(self):
        totals = {sid: 0.0 for sid in self.sessions}
        for entry in pathlib.Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                sid = int(fields[3])
                if sid in self.sessions:
                    totals[sid] += rss_mib(int(entry.name))
                    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
                    self.sessions[sid]["cpu"][int(entry.name)] = cpu
            except (OSError, IndexError, ValueError):
                continue
        for sid, total in totals.items():
            self.sessions[sid]["peak_rss_mib"] = max(self.sessions[sid]["peak_rss_mib"], total)

    def stop(self):
        self.stop_polling()
        return self.sessions


def run_flower_deployment(args):
    """Flower's deployment runtime: a SuperLink, 10 SuperNodes (each running the ClientApp in
    its own processes) and `flwr run` submitting the app (bench/flower/app). CPU is each
    process's own CPU time (utime + stime) as last sampled, summed over every process of every
    session; peak RSS is summed over each session's processes. Processes that live less than
    the 0.2 s between samples are missed, so both figures are lower bounds."""
    work = pathlib.Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    port = free_port()
    environment = dict(os.environ, FEDMQ_BENCH_FLOWER=str(HERE), PATH=f"{pathlib.Path(PYTHON).parent}:{os.environ['PATH']}",
                       FLWR_HOME=str(work / "flwr-home"))
    curve_path = work / "curve.json"
    launched, bytes_before = time.time(), loopback_bytes()
    leaders = []

    def start(name, argv):
        process = subprocess.Popen(argv, stdout=open(logs / f"{name}.log", "wb"), stderr=subprocess.STDOUT, cwd=work,
                                   env=environment, start_new_session=True)
        leaders.append((name, process))
        return process

    try:
        start("superlink", [str(pathlib.Path(PYTHON).parent / "flower-superlink"), "--insecure", "--port", str(port)])
        wait_for_port(port)
        for k in range(10):
            start(f"supernode-{k}", [str(pathlib.Path(PYTHON).parent / "flower-supernode"), "--insecure", "--superlink",
                                     f"127.0.0.1:{port}", "--port", str(free_port()),
                                     "--node-config", f"partition-id={k} split=\"{args.split}\""])
        sampler = SessionSampler([process.pid for _, process in leaders])
        run_config = f"num-server-rounds={args.rounds} clients=10 model=\"{args.model}\" out=\"{curve_path}\""
        # This run's SuperLink as the `bench` connection of a Flower config of its own.
        home = pathlib.Path(environment["FLWR_HOME"])
        home.mkdir(parents=True, exist_ok=True)
        (home / "config.toml").write_text(
            f'[superlink]\ndefault = "bench"\n\n[superlink.bench]\naddress = "127.0.0.1:{port}"\ninsecure = true\n')
        submit = subprocess.run([str(pathlib.Path(PYTHON).parent / "flwr"), "run", str(HERE / "app"), "bench", "--stream",
                                 "--run-config", run_config],
                                stdout=open(logs / "flwr-run.log", "wb"), stderr=subprocess.STDOUT, env=environment,
                                timeout=args.timeout)
        bytes_after = loopback_bytes()
        sessions = sampler.stop()
    finally:
        for name, process in leaders:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for name, process in leaders:
            deadline = time.time() + 10
            while True:
                pid, _, _ = os.wait4(process.pid, os.WNOHANG)
                if pid == process.pid:
                    break
                if time.time() > deadline:
                    os.killpg(process.pid, signal.SIGKILL)
                    deadline = time.time() + 5
                time.sleep(0.01)
    if submit.returncode != 0 or not curve_path.exists():
        raise RuntimeError(f"flwr run exited with {submit.returncode}; see {logs}")
    curve = json.loads(curve_path.read_text())
    by_leader = {name: sessions[process.pid] for name, process in leaders}
    # Each process's own CPU time as last sampled (wait4's figure would count reaped children again).
    cpu = {name: sum(by_leader[name]["cpu"].values()) for name, _ in leaders}
    return {"accuracy": curve["accuracy"][-1], "curve": curve["accuracy"],
            "rounds_wall": curve["evaluated"][-1] - curve["evaluated"][0],
            "launch_to_result": curve["evaluated"][-1] - launched,
            "loopback_bytes_per_round": (bytes_after - bytes_before) / args.rounds,
            "cpu_seconds": sum(cpu.values()),
            "server_peak_rss_mib": by_leader["superlink"]["peak_rss_mib"],
            "client_peak_rss_mib": max(by_leader[f"supernode-{k}"]["peak_rss_mib"] for k in range(10)),
            "processes": sum(len(session["cpu"]) for session in by_leader.values())}


class StatusWatcher:
    """mosquitto_sub on the agents' status topics: notes when N distinct agents are online, then
    stops. Every agent publishes a status each round: a watcher left running would take CPU
    (mosquitto_sub and this thread parsing JSON) from the rounds it times, on FedMQ's side only."""

    def __init__(self, port, job, expected):
        self.expected, self.online, self.all_connected = expected, set(), None
        self.process = subprocess.Popen(["mosquitto_sub", "-p", str(port), "-h", "127.0.0.1", "-v", "-t",
                                         f"fedmq/v1/{job}/status/+"], stdout=subprocess.PIPE, text=True)
        threading.Thread(target=self.read, daemon=True).start()

    def read(self):
        for line in self.process.stdout:
            topic, _, payload = line.partition(" ")
            try:
                state = json.loads(payload).get("state")
            except ValueError:
                continue
            if state != "offline":
                self.online.add(topic)
            if self.all_connected is None and len(self.online) >= self.expected:
                self.all_connected = time.time()
                self.process.terminate()
                return

    def stop(self):
        self.process.terminate()
        self.process.wait()


def cache_executables(spec):
    """Reads FedMQ's executables whole, so every page of them is in the page cache when they
    start. How much a process maps around each page it touches depends on which neighbouring
    pages are cached: the same agent binary measured 0.8 MiB lower at peak once the kernel had
    dropped a fifth of its file from the cache. Reading them first measures every run in the
    same state, and the least flattering one (a freshly installed binary)."""
    for path in {spec["aggregator"][0], *(argv[0] for argv in spec["agents"])}:
        pathlib.Path(path).read_bytes()


def run_fedmq(args):
    spec = json.loads(pathlib.Path(args.spec).read_text())
    processes = Processes(spec["logs"])
    cache_executables(spec)
    launched, bytes_before = time.time(), loopback_bytes()
    try:
        processes.start("broker", "broker", spec["broker"])
        wait_for_port(spec["port"])
        watcher = StatusWatcher(spec["port"], spec["job"], len(spec["agents"]))
        processes.start("aggregator", "aggregator", spec["aggregator"])
        agents = [processes.start(f"agent-{k}", "agent", argv) for k, argv in enumerate(spec["agents"])]
        links = ClientLinkCounter(spec["port"], [agent.pid for agent in agents])
        aggregator = processes.reap("aggregator", timeout=args.timeout)
        bytes_after, link_bytes = loopback_bytes(), links.stop()
        watcher.stop()
        processes.stop_all()
    finally:
        processes.stop_all()
    if aggregator["exit"] != 0:
        raise RuntimeError(f"fedmq-aggregator exited with {aggregator['exit']}; see {spec['logs']}")
    rounds = [json.loads(line) for line in pathlib.Path(spec["metrics"]).read_text().splitlines() if line.strip()]
    last = rounds[-1]
    return {"accuracy": last["accuracy"], "curve": [r["accuracy"] for r in rounds],
            "rounds_wall": last["closed_at"] - watcher.all_connected,
            "launch_to_result": last["closed_at"] - launched,
            "loopback_bytes_per_round": (bytes_after - bytes_before) / len(rounds),
            "client_link_bytes_per_round": link_bytes / len(rounds),
            "update_bytes_per_round": sum(r["bytes_received"] for r in rounds) / len(rounds),
            **processes.summary("aggregator", "agent")}


def idle_flower(args):
    work = pathlib.Path(args.work)
    port = free_port()
    processes = Processes(work / "idle-logs")
    try:
        # The server waits for 2 clients before round 1, so the one client stays connected with no round open.
        processes.start("server", "server", [PYTHON, str(HERE / "server.py"), "--port", str(port), "--model", "logreg",
                                             "--rounds", "1", "--clients", "2", "--out", str(work / "idle.json")], cwd=HERE)
        wait_for_port(port, 60)
        client = processes.start("client", "client", [PYTHON, str(HERE / "client.py"), "--port", str(port),
                                                       "--split", "iid", "--client", "0"], cwd=HERE)
        return idle(client, args.seconds)
    finally:
        processes.stop_all()


def idle_fedmq(args):
    spec = json.loads(pathlib.Path(args.spec).read_text())
    processes = Processes(spec["logs"])
    cache_executables(spec)
    try:
        processes.start("broker", "broker", spec["broker"])
        wait_for_port(spec["port"])
        agent = processes.start("agent", "agent", spec["agents"][0])  # no aggregator: no round is ever open
        return idle(agent, args.seconds)
    finally:
        processes.stop_all()


def main():
    # A launcher may hand us a blocked signal mask (Foundation's Process passes its thread's on);
    # children inherit it, and a child that cannot see SIGTERM cannot be stopped.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", choices=["flower", "flower-deployment", "flower-sensors", "fedmq", "idle-flower", "idle-fedmq"])
    parser.add_argument("--model", choices=["logreg", "mlp"], default="logreg")
    parser.add_argument("--split", choices=["iid", "noniid"], default="iid")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--spec")
    parser.add_argument("--sensors", help="flower-sensors: the job file fedmq bench sensors wrote")
    parser.add_argument("--work", default=".")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a run is stopped as failed")
    args = parser.parse_args()
    run = {"flower": run_flower, "flower-deployment": run_flower_deployment, "flower-sensors": run_flower_sensors, "fedmq": run_fedmq,
           "idle-flower": idle_flower,
           "idle-fedmq": idle_fedmq}[args.mode]
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
