package e2e

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

const (
	imageUID      = 65532
	imageMaxBytes = 20 << 20 // the size budget, uncompressed
	capNetRaw     = 13
)

// requireRoot skips unless the test can create namespaces and run runc.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root for ip netns, runc and setcap (CI runs make test as root)")
	}
}

// requireTools skips unless every tool is on PATH.
func requireTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("needs %s on PATH (Debian packages in .ci/apt/image.txt)", tool)
		}
	}
}

// command runs a tool and fails the test with its output if it fails.
func command(t *testing.T, dir, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// goBuild builds static linux binaries for the host architecture; out is a
// file for one package, or a directory ending in "/" for several. Unlike
// make image it does not pass -trimpath, so it reuses the packages that go
// vet and the other tests have compiled (a cold build takes minutes in CI).
func goBuild(t *testing.T, out string, pkgs ...string) {
	t.Helper()
	args := append([]string{"build", "-tags", "sidecaronly", "-ldflags", "-s -w -X main.version=e2e", "-o", out}, pkgs...)
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// buildImage builds the host-architecture image from the repository's
// Dockerfile the way make image does (BINARIES=prebuilt, buildah, vfs) and
// returns an OCI layout reference for umoci.
func buildImage(t *testing.T, dir string) string {
	t.Helper()
	requireTools(t, "buildah", "setcap")
	ctx := filepath.Join(dir, "context")
	bin := filepath.Join(ctx, "bin", "linux-"+runtime.GOARCH)
	goBuild(t, bin+"/", "./cmd/sidewatch", "./cmd/fluent-launch")
	command(t, "..", "scripts/image-rootfs.sh", bin, bin)
	copyFile(t, "../Dockerfile", filepath.Join(ctx, "Dockerfile"))

	buildah := []string{"--storage-driver", "vfs", "--root", filepath.Join(dir, "storage"), "--runroot", filepath.Join(dir, "run")}
	command(t, "", "buildah", append(buildah, "bud", "--isolation", "chroot", "--format", "docker", "--quiet",
		"--platform", "linux/"+runtime.GOARCH, "--build-arg", "BINARIES=prebuilt", "--build-arg", "VERSION=e2e", "-t", "sidewatch:e2e", ctx)...)
	ref := filepath.Join(dir, "oci") + ":e2e"
	command(t, "", "buildah", append(buildah, "push", "--quiet", "sidewatch:e2e", "oci:"+ref)...)
	return ref
}

// unpackImage unpacks an OCI image into a runc bundle and returns its spec.
func unpackImage(t *testing.T, ref, bundle string) *specs.Spec {
	t.Helper()
	command(t, "", "umoci", "unpack", "--image", ref, bundle)
	return readSpec(t, bundle)
}

func readSpec(t *testing.T, bundle string) *specs.Spec {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("parse %s/config.json: %v", bundle, err)
	}
	return &s
}

// fileCaps decodes the security.capability xattr (VFS_CAP_REVISION_2 or 3):
// the permitted and inheritable masks and the effective bit. ok is false when
// the file has no capabilities.
func fileCaps(path string) (permitted, inheritable uint64, effective, ok bool, err error) {
	buf := make([]byte, 64)
	n, err := syscall.Getxattr(path, "security.capability", buf)
	if errors.Is(err, syscall.ENODATA) {
		return 0, 0, false, false, nil
	}
	if err != nil {
		return 0, 0, false, false, err
	}
	if n < 20 {
		return 0, 0, false, false, errors.New("security.capability shorter than 20 bytes")
	}
	b := buf[:n]
	magic := binary.LittleEndian.Uint32(b[0:])
	permitted = uint64(binary.LittleEndian.Uint32(b[4:])) | uint64(binary.LittleEndian.Uint32(b[12:]))<<32
	inheritable = uint64(binary.LittleEndian.Uint32(b[8:])) | uint64(binary.LittleEndian.Uint32(b[16:]))<<32
	return permitted, inheritable, magic&1 == 1, true, nil
}

// checkImage asserts what docs/image.md promises about the image's content.
func checkImage(t *testing.T, s *specs.Spec, rootfs string) {
	t.Helper()
	if got := s.Process.User; got.UID != imageUID || got.GID != imageUID {
		t.Errorf("image user = %d:%d, want %d:%d", got.UID, got.GID, imageUID, imageUID)
	}
	if got, want := strings.Join(s.Process.Args, " "), "/usr/local/bin/sidewatch run"; got != want {
		t.Errorf("image entrypoint = %q, want %q", got, want)
	}

	for _, label := range []string{"source", "licenses", "version"} {
		if k := "org.opencontainers.image." + label; s.Annotations[k] == "" {
			t.Errorf("image label %s is missing", k)
		}
	}

	perm, inh, eff, ok, err := fileCaps(filepath.Join(rootfs, "usr/local/bin/sidewatch"))
	switch {
	case err != nil:
		t.Errorf("sidewatch capabilities: %v", err)
	case !ok || perm != 1<<capNetRaw || inh != 0 || !eff:
		t.Errorf("sidewatch file capabilities = permitted %#x inheritable %#x effective %v, want cap_net_raw+ep only (%#x)", perm, inh, eff, uint64(1<<capNetRaw))
	}
	launchers := []string{"usr/local/lib/sidewatch/fluent-launch", "var/sidewatch/lib/fluent-bit/fluent-launch"}
	var infos []fs.FileInfo
	for _, p := range launchers {
		if _, _, _, ok, err := fileCaps(filepath.Join(rootfs, p)); err != nil || ok {
			t.Errorf("%s: has file capabilities = %v (err %v), want none", p, ok, err)
		}
		fi, err := os.Stat(filepath.Join(rootfs, p))
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, fi)
	}
	if !os.SameFile(infos[0], infos[1]) {
		t.Errorf("/%s and /%s are different files, want one hard link (stored once)", launchers[0], launchers[1])
	}
	if _, err := os.Lstat(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt")); err != nil {
		t.Errorf("CA bundle: %v", err)
	}
	for _, p := range []string{"bin/sh", "usr/bin/sh", "bin", "usr/bin"} {
		if _, err := os.Lstat(filepath.Join(rootfs, p)); err == nil {
			t.Errorf("image has /%s, want no shell", p)
		}
	}
	if fi, err := os.Stat(filepath.Join(rootfs, "var/sidewatch/lib/fluent-bit")); err != nil {
		t.Errorf("launcher volume: %v", err)
	} else if st := fi.Sys().(*syscall.Stat_t); st.Uid != imageUID {
		t.Errorf("launcher volume owner = %d, want %d (the sidecar refreshes fluent-launch in it)", st.Uid, imageUID)
	}

	var size int64
	seen := map[uint64]bool{} // inodes: a hard link is stored once
	err = filepath.WalkDir(rootfs, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if ino := fi.Sys().(*syscall.Stat_t).Ino; !seen[ino] {
			seen[ino] = true
			size += fi.Size()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image: %d bytes of files (%.1f MiB) for linux/%s", size, float64(size)/(1<<20), runtime.GOARCH)
	if size > imageMaxBytes {
		t.Errorf("image files = %d bytes, want <= %d", size, imageMaxBytes)
	}
}

// copyFile copies src to dst, creating dst's directory.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// copyTree copies a directory tree keeping modes and owners, as Docker does
// when it populates a new volume from the image's VOLUME directory.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			if err := os.MkdirAll(target, fi.Mode().Perm()); err != nil {
				return err
			}
		case d.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(target, b, fi.Mode().Perm()); err != nil {
				return err
			}
		default:
			return errors.New(path + ": not a file or directory")
		}
		st := fi.Sys().(*syscall.Stat_t)
		if err := os.Lchown(target, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
		return os.Chmod(target, fi.Mode().Perm())
	})
	if err != nil {
		t.Fatalf("copy %s to %s: %v", src, dst, err)
	}
}
