package launcher

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/sidewatch/sidewatch/firelens"
)

// Limits for --inline-includes. Fluent Bit reads at most 1000 files.
const (
	maxIncludeDepth = 16
	maxIncludeFiles = 1000
)

// includeLoader reads @INCLUDE targets for --inline-includes the way
// Fluent Bit resolves them: a relative path against the working directory
// first, then against the real directory of the main config (root), also
// for nested includes; a glob against root, in sorted order. Like Fluent
// Bit, it rejects reading any file twice, which also rejects cycles.
type includeLoader struct {
	root  string
	seen  []os.FileInfo
	depth int
}

func newIncludeLoader(mainPath string) (*includeLoader, error) {
	fi, err := os.Stat(mainPath)
	if err != nil {
		return nil, err
	}
	return &includeLoader{root: realDir(mainPath), seen: []os.FileInfo{fi}}, nil
}

func (ld *includeLoader) load(p string) ([]*firelens.Config, error) {
	if ld.depth >= maxIncludeDepth {
		return nil, fmt.Errorf("includes nested deeper than %d", maxIncludeDepth)
	}
	var paths []string
	if strings.Contains(p, "*") {
		pattern := p
		if !strings.HasPrefix(p, "/") {
			pattern = ld.root + "/" + p
		}
		matches, err := filepath.Glob(pattern)
		if err != nil {
			return nil, err
		}
		if len(matches) == 0 {
			return nil, fmt.Errorf("%s: no file matches", pattern)
		}
		paths = matches
	} else {
		path := p
		if !strings.HasPrefix(p, "/") {
			if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
				path = ld.root + "/" + p
			}
		}
		paths = []string{path}
	}
	configs := make([]*firelens.Config, 0, len(paths))
	for _, path := range paths {
		c, err := ld.read(path)
		if err != nil {
			return nil, err
		}
		configs = append(configs, c)
	}
	return configs, nil
}

func (ld *includeLoader) read(path string) (*firelens.Config, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, pathErr(err))
	}
	for _, s := range ld.seen {
		if os.SameFile(s, fi) {
			return nil, fmt.Errorf("%s: included twice (a cycle, or a file Fluent Bit would refuse to read again)", path)
		}
	}
	if len(ld.seen) >= maxIncludeFiles {
		return nil, fmt.Errorf("more than %d config files", maxIncludeFiles)
	}
	ld.seen = append(ld.seen, fi)
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, pathErr(err))
	}
	c, err := firelens.Parse(src)
	if err != nil {
		var pe *firelens.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("%s:%d: %s", path, pe.Line, pe.Msg)
		}
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	ld.depth++
	defer func() { ld.depth-- }()
	if err := c.InlineIncludes(ld.load); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// realDir is the directory Fluent Bit resolves relative includes against:
// that of the config's real path.
func realDir(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Dir(path)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return filepath.Dir(real)
	}
	return filepath.Dir(abs)
}
