package promapi

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The TSDB lives in a folder of the temporary directory that Close
// removes. A sandbox killed before Close (SIGKILL, a crash, a power cut)
// leaves it behind, so each folder carries the pid of the process that
// made it, and the next sandbox to start removes the folders whose
// process is gone.
const (
	tsdbDirPrefix = "watchkeeper-sandbox-tsdb-"
	pidFileName   = "watchkeeper-sandbox.pid"
)

// makeTSDBDir removes stale TSDB folders under tmp, then creates a new
// one holding this process's pid.
func makeTSDBDir(tmp string, logger *slog.Logger) (string, error) {
	for _, dir := range removeStale(tmp, processGone) {
		logger.Debug("removed the TSDB folder of a sandbox that is no longer running", "dir", dir)
	}
	dir, err := os.MkdirTemp(tmp, tsdbDirPrefix)
	if err != nil {
		return "", fmt.Errorf("create the TSDB folder in %s (set TMPDIR to a writable folder): %w", tmp, err)
	}
	if err := os.WriteFile(filepath.Join(dir, pidFileName), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("write the TSDB folder's pid file: %w", err)
	}
	return dir, nil
}

// removeStale removes the folders under tmp that are clearly a dead
// sandbox's: named with tsdbDirPrefix, holding a pid file, and gone(pid,
// folder) is true. A folder without a pid file may be one being made
// right now, or not ours; it is left alone. It returns what it removed.
func removeStale(tmp string, gone func(pid int, dir string) bool) []string {
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), tsdbDirPrefix) {
			continue
		}
		dir := filepath.Join(tmp, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, pidFileName))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 || pid == os.Getpid() || !gone(pid, dir) {
			continue
		}
		if os.RemoveAll(dir) == nil {
			removed = append(removed, dir)
		}
	}
	return removed
}
