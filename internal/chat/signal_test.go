package chat_test

import "os"

type osSignal = os.Signal

// interruptSignal stands in for os.Interrupt without signalling the test
// process.
type interruptSignal struct{}

func (interruptSignal) String() string { return "interrupt" }
func (interruptSignal) Signal()        {}
