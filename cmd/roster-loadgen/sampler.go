package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTicks is Linux's USER_HZ, the unit of /proc/PID/stat's CPU times
// (100 on every architecture Go supports).
const clockTicks = 100

// procUsage reads a process's CPU time (user + system) and resident set
// size from /proc.
func procUsage(pid int) (cpu time.Duration, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read process %d stat: %w", pid, err)
	}
	// The command name may hold spaces and parentheses: fields count
	// from the last ')'. utime and stime are fields 14 and 15, rss 24.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 22 {
		return 0, 0, fmt.Errorf("process %d stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	pages, err3 := strconv.ParseInt(f[21], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return 0, 0, fmt.Errorf("process %d stat: bad numbers", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, pages * int64(os.Getpagesize()), nil
}

// pathBytes is the size of the files at paths, directories walked.
func pathBytes(paths []string) int64 {
	var n int64
	for _, p := range paths {
		_ = filepath.WalkDir(p, func(_ string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // a WAL file may come and go
			}
			if info, err := e.Info(); err == nil && info.Mode().IsRegular() {
				n += info.Size()
			}
			return nil
		})
	}
	return n
}

// usagePoint is one sample: each process's CPU (cores used since the
// previous sample) and RSS, and the database's size.
type usagePoint struct {
	At      float64   `json:"at_s"`
	CPU     []float64 `json:"cpu_cores"`
	RSS     []int64   `json:"rss_bytes"`
	DBBytes int64     `json:"db_bytes"`
	// Self is the load generator's own RSS.
	Self int64 `json:"load_generator_rss_bytes"`
}

// sampleUsage samples pids and the database every interval until ctx
// ends, and returns the samples; a process that went away counts zero.
func sampleUsage(ctx context.Context, pids []int, db []string, every time.Duration) []usagePoint {
	start := time.Now()
	last := make([]time.Duration, len(pids))
	for i, p := range pids {
		last[i], _, _ = procUsage(p)
	}
	prev := start
	var out []usagePoint
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case now := <-t.C:
			pt := usagePoint{At: now.Sub(start).Seconds(), CPU: make([]float64, len(pids)), RSS: make([]int64, len(pids)), DBBytes: pathBytes(db)}
			_, pt.Self, _ = procUsage(os.Getpid())
			for i, p := range pids {
				cpu, rss, err := procUsage(p)
				if err != nil {
					continue
				}
				pt.CPU[i] = (cpu - last[i]).Seconds() / now.Sub(prev).Seconds()
				pt.RSS[i] = rss
				last[i] = cpu
			}
			prev = now
			out = append(out, pt)
		}
	}
}
