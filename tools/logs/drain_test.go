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

func TestFormat(t *testing.T) {
	tests := []struct {
		format, line string
		content      string
		fields       []string
	}{
		{`<Date> <Time> <Pid> <Level> <Component>: <Content>`, "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 for block blk_38 terminating",
			"PacketResponder 1 for block blk_38 terminating", []string{"081109", "203615", "148", "INFO", "dfs.DataNode$PacketResponder"}},
		{`\[<Time>\] \[<Level>\] <Content>`, "[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties",
			"workerEnv.init() ok /etc/httpd/conf/workers2.properties", []string{"Sun Dec 04 04:47:44 2005", "notice"}},
		{`<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>`, "Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.example.com [1.2.3.4] failed",
			"reverse mapping checking getaddrinfo for ns.example.com [1.2.3.4] failed", []string{"Dec", "10", "06:55:46", "LabSZ", "24200"}},
		{`<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>`, "2015-07-29 17:41:44,747 - INFO  [QuorumPeer[myid=1]/0:0:0:0:0:0:0:0:2181:FastLeaderElection@774] - Notification time out: 3200",
			"Notification time out: 3200", []string{"2015-07-29", "17:41:44,747", "INFO", "QuorumPeer[myid=1]/0"}},
	}
	for _, tt := range tests {
		f, err := ParseFormat(tt.format)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.Content(tt.line); got != tt.content {
			t.Errorf("%s: content %q, want %q", tt.format, got, tt.content)
		}
		fields, _ := f.Parse(tt.line)
		for i, want := range tt.fields {
			if fields[i] != want {
				t.Errorf("%s: field %s = %q, want %q", tt.format, f.Fields()[i], fields[i], want)
			}
		}
		// The fast path and the regular expression agree.
		if f.fast != nil {
			fast, ok := f.matchFast(tt.line)
			slow := f.re.FindStringSubmatch(tt.line)
			if ok && strings.Join(fast, "|") != strings.Join(slow[1:], "|") {
				t.Errorf("%s: fast %q, regexp %q", tt.format, fast, slow[1:])
			}
		}
	}
	f, _ := ParseFormat(`<Date> <Level>: <Content>`)
	if got := f.Content("not a matching line"); got != "not a matching line" {
		t.Errorf("a non-matching line should be its own content, got %q", got)
	}
	if _, err := ParseFormat("no fields"); err == nil {
		t.Error("a format without fields should fail")
	}
	if _, err := ParseFormat(`<A> (<Content>`); err == nil || !strings.Contains(err.Error(), "missing closing )") {
		t.Errorf("a format that is not a valid regular expression should fail, got %v", err)
	}
	if _, err := ParseFormat(`<Date> <Level>`); err == nil || !strings.Contains(err.Error(), "no <Content>") {
		t.Errorf("a format without <Content> should fail, got %v", err)
	}
}
