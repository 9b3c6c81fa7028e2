package logs

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
)

func TestMinerGroupsAndGeneralises(t *testing.T) {
	m := NewMiner(MinerConfig{})
	a := m.Add("Connection from 10.0.0.1 port 22 closed")
	b := m.Add("Connection from 10.0.0.2 port 2222 closed")
	c := m.Add("Connection from gateway port 22 closed")
	d := m.Add("Disk full on /dev/sda1")
	if a != b || a != c || a == d {
		t.Fatalf("grouping: %d %d %d %d", a.ID, b.ID, c.ID, d.ID)
	}
	if a.String() != "Connection from <*> port <*> closed" || a.Count != 3 {
		t.Errorf("template %q count %d", a.String(), a.Count)
	}
}

func TestAllVariableMessagesShareOneTemplate(t *testing.T) {
	m := NewMiner(MinerConfig{})
	for i := range 1000 {
		m.Add(fmt.Sprintf(`{"ts":%d,"level":"info","latency_ms":%d}`, i, i%97))
	}
	if n := len(m.Templates()); n != 1 {
		t.Errorf("%d templates for one message shape", n)
	}
}

func TestVariableLengthListsShareATemplate(t *testing.T) {
	m := NewMiner(MinerConfig{})
	x := m.Add("BLOCK* ask 10.0.0.1:50010 to delete blk_1")
	y := m.Add("BLOCK* ask 10.0.0.2:50010 to delete blk_2 blk_3 blk_4 blk_5")
	if x != y {
		t.Errorf("lists of different length split: %q vs %q", x.String(), y.String())
	}
}

func TestHostNames(t *testing.T) {
	for tok, want := range map[string]bool{
		"ns.example.com": true, "mail.marryaldkfaczcz.com": true, "node-1.cluster.local.": true,
		"org.apache.zookeeper.server.NIOServerCnxn": false, "example.com": false, "java.lang.NullPointerException": false,
		"a.b.c=1": false, "v1.2.3": false,
	} {
		if got := isHostName(tok); got != want {
			t.Errorf("isHostName(%q) = %v", tok, got)
		}
	}
}

func TestMasks(t *testing.T) {
	m := NewMiner(MinerConfig{Masks: []*regexp.Regexp{regexp.MustCompile(`user [a-z]+`)}})
	a := m.Add("login failed for user alice")
	b := m.Add("login failed for user bob")
	if a != b || !strings.Contains(a.String(), "<*>") {
		t.Errorf("mask not applied: %q %q", a.String(), b.String())
	}
}

func TestMaxChildrenBoundsTheTree(t *testing.T) {
	m := NewMiner(MinerConfig{MaxChildren: 5})
	for i := range 50 {
		m.Add(fmt.Sprintf("word%c started", 'a'+i%26) + strings.Repeat("x", i))
	}
	if n := len(m.root[2].children); n > 5 {
		t.Errorf("%d children, bound is 5", n)
	}
}
