package launcher

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sidewatch/sidewatch/firelens"
)

// TestDocsTaskDefinition keeps the task-definition snippet in
// docs/fluent-launch.md equal to what the code generates, and valid for
// the parser.
func TestDocsTaskDefinition(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "docs", "fluent-launch.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```json\n")
	if !ok {
		t.Fatal("docs/fluent-launch.md has no json block")
	}
	block, _, _ = strings.Cut(block, "```")
	var container struct {
		VolumesFrom []struct{ SourceContainer string }
		EntryPoint  []string
		Command     []string
	}
	if err := json.Unmarshal([]byte(block), &container); err != nil {
		t.Fatalf("task definition snippet: %v", err)
	}
	if diff := cmp.Diff([]string{firelens.LauncherPath}, container.EntryPoint); diff != "" {
		t.Errorf("entryPoint mismatch (-want +got):\n%s", diff)
	}
	want := firelens.LauncherCommand(firelens.DefaultSyslogOutput(), "/fluent-bit/cloudwatch.so")
	if diff := cmp.Diff(want, container.Command); diff != "" {
		t.Errorf("command mismatch (-want +got):\n%s", diff)
	}
	if _, err := ParseArgs(container.Command); err != nil {
		t.Errorf("ParseArgs(command) = %v", err)
	}
	if len(container.VolumesFrom) != 1 {
		t.Errorf("volumesFrom = %+v, want the sidecar", container.VolumesFrom)
	}
}
