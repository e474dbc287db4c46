package proc

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// CPUSeconds returns the CPU time, user and system, that process pid has
// used so far, from /proc/PID/stat.
func CPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStat(string(b))
}

// userHZ is the unit of the times in /proc/PID/stat: Linux reports them in
// ticks of 1/100 s to user space whatever the kernel's own rate.
const userHZ = 100

// parseStat reads utime and stime, fields 14 and 15, counted after the
// command name, which may hold spaces and parentheses.
func parseStat(s string) (float64, error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("proc: stat %.40q has no command name", s)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("proc: stat has %d fields after the name, want at least 13", len(f))
	}
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("proc: stat times %q %q are not counts", f[11], f[12])
	}
	return float64(utime+stime) / userHZ, nil
}
