package logs

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/watchkeeper/watchkeeper/tools/logs/loggen"
)

var loghubDir = filepath.Join("..", "..", "..", "shared", "data", "loghub")

type loghubSettings struct {
	Settings map[string]struct {
		LogFile   string   `json:"log_file"`
		LogFormat string   `json:"log_format"`
		Regex     []string `json:"regex"`
	} `json:"settings"`
}

// drainPublished are Drain's grouping accuracies on these datasets, from
// logparser's README.
var drainPublished = map[string]float64{"HDFS": 0.9975, "Apache": 1.0, "OpenSSH": 0.7875, "Zookeeper": 0.9665}

func evaluate(t *testing.T, name string, withMasks bool) loggen.Scores {
	return evaluateConfig(t, name, withMasks, MinerConfig{})
}

func evaluateConfig(t *testing.T, name string, withMasks bool, cfg MinerConfig) loggen.Scores {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(loghubDir, "settings.json"))
	if err != nil {
		t.Skip("Loghub data not present")
	}
	var s loghubSettings
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	set := s.Settings[name]
	format, err := ParseFormat(set.LogFormat)
	if err != nil {
		t.Fatal(err)
	}
	if withMasks {
		for _, r := range set.Regex {
			cfg.Masks = append(cfg.Masks, regexp.MustCompile(r))
		}
	}
	f, err := os.Open(filepath.Join(loghubDir, set.LogFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	res, err := ParseLines(f, format, cfg)
	if err != nil {
		t.Fatal(err)
	}
	tf, err := os.Open(filepath.Join(loghubDir, set.LogFile+"_structured.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer tf.Close()
	rows, err := csv.NewReader(tf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "EventId" {
			col = i
		}
	}
	var truth, truthText []string
	var pred []int
	for i, r := range rows[1:] {
		truth = append(truth, r[col])
		truthText = append(truthText, r[col]+" "+r[len(r)-1])
		pred = append(pred, res.Lines[i].ID)
	}
	if *suiteShow != "" && strings.Contains(name, *suiteShow) {
		fmt.Printf("=== %s masks=%v\n", name, withMasks)
		printErrors(truthText, res)
	}
	if len(truth) != len(res.Lines) {
		t.Fatalf("%s: %d lines parsed, %d in the ground truth", name, len(res.Lines), len(truth))
	}
	return loggen.Score(truth, pred)
}

// TestLoghubGroupingAccuracy checks the miner against Drain's published
// grouping accuracy on the Loghub datasets present beside the project,
// with and without the datasets' masks (the scorer may send either).
func TestLoghubGroupingAccuracy(t *testing.T) {
	for _, masks := range []bool{true, false} {
		var ga, f1 float64
		for _, name := range []string{"HDFS", "Apache", "OpenSSH", "Zookeeper"} {
			sc := evaluate(t, name, masks)
			t.Logf("%-10s masks=%-5v GA %.4f  F1 %.4f  groups %3d of %3d  (Drain GA %.4f)", name, masks, sc.GA, sc.F1, sc.Groups, sc.TrueGroups, drainPublished[name])
			if sc.GA < drainPublished[name] {
				t.Errorf("%s: grouping accuracy %.4f is below Drain's %.4f", name, sc.GA, drainPublished[name])
			}
			ga += sc.GA
			f1 += sc.F1
		}
		t.Logf("mean       masks=%-5v GA %.4f  F1 %.4f", masks, ga/4, f1/4)
		if ga/4 < 0.99 {
			t.Errorf("mean grouping accuracy %.4f is below 0.99", ga/4)
		}
	}
}
