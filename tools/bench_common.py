"""What the benchmark scripts under tools/ share."""
import resource


def peak_rss_mib():
    """This process's peak resident memory in MiB: VmHWM, which unlike ru_maxrss does
    not inherit the peak of the spawning process (Python spawns children with vfork,
    so a child's ru_maxrss would start at its parent's)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
