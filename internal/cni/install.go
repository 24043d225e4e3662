package cni

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// InstallOptions say where the init container puts the plugin and its configuration.
type InstallOptions struct {
	BinDir  string // the host's /opt/cni/bin as mounted, e.g. /host/opt/cni/bin
	ConfDir string // the host's /etc/cni/net.d as mounted
	// Executable is the plugin binary to copy (the running one, os.Executable).
	Executable string
	Conf       ConfOptions
}

// Install copies the plugin to <BinDir>/romana and writes <ConfDir>/10-romana.conf,
// each atomically: a temporary file in the same directory, fsync, chmod, rename. It
// returns the paths written, in that order.
func Install(o InstallOptions) ([]string, error) {
	conf, err := RenderConf(o.Conf)
	if err != nil {
		return nil, err
	}
	src, err := os.Open(o.Executable)
	if err != nil {
		return nil, fmt.Errorf("open the plugin binary: %w", err)
	}
	defer src.Close()
	bin := filepath.Join(o.BinDir, BinaryName)
	if err := writeAtomic(bin, src, 0o755); err != nil {
		return nil, err
	}
	cf := filepath.Join(o.ConfDir, ConfName)
	if err := writeAtomic(cf, bytes.NewReader(conf), 0o644); err != nil {
		return []string{bin}, err
	}
	return []string{bin, cf}, nil
}

// writeAtomic writes path from r so that a reader sees the old file or the new one,
// never a part: a runtime that execs the plugin mid-copy gets the old binary.
func writeAtomic(path string, r io.Reader, mode os.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if _, err = io.Copy(f, r); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: fsync: %w", path, err)
	}
	if err = f.Chmod(mode); err != nil {
		return fmt.Errorf("write %s: chmod: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: rename: %w", path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
