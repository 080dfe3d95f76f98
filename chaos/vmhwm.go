package chaos

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// VmHWM returns a process's peak resident set size since its exec, in KiB,
// from /proc/<pid>/status (0 when it cannot be read, e.g. after exit).
func VmHWM(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}
