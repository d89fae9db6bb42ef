package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrTooLarge is returned for a message over MaxMessageSize.
var ErrTooLarge = errors.New("message too large")

// Encode marshals m after checking that it is well formed.
func Encode(m *Message) ([]byte, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	b, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	return b, nil
}

// Decode unmarshals and validates one message. It never panics on any input.
func Decode(b []byte) (*Message, error) {
	if len(b) > MaxMessageSize {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(b))
	}
	var m Message
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("malformed message: %w", err)
	}
	if dec.More() {
		return nil, errors.New("malformed message: data after the message")
	}
	m.dropUnknown()
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return &m, nil
}

// ErrUnknownKind is wrapped by Validate for kinds this version does not know.
var ErrUnknownKind = errors.New("unknown message kind")

// Validate checks that exactly the body of Kind is set and is well formed.
func (m *Message) Validate() error {
	bodies := 0
	for _, set := range []bool{m.Hello != nil, m.Welcome != nil, m.Desired != nil, m.Status != nil,
		m.Inventory != nil, m.Heartbeat != nil, m.Error != nil} {
		if set {
			bodies++
		}
	}
	var has bool
	switch m.Kind {
	case KindHello:
		has = m.Hello != nil
	case KindWelcome:
		has = m.Welcome != nil
	case KindDesired:
		has = m.Desired != nil
		if has {
			for _, it := range m.Desired.Items {
				if err := it.ItemKey.validate(); err != nil {
					return err
				}
			}
		}
	case KindStatus:
		has = m.Status != nil
		if has {
			for _, st := range m.Status.Items {
				if err := st.ItemKey.validate(); err != nil {
					return err
				}
				if st.State != StateApplied && st.State != StateFailed && st.State != StateApplying {
					return fmt.Errorf("status of %s: unknown state %q", st.ItemKey, st.State)
				}
			}
		}
	case KindInventory:
		has = m.Inventory != nil
		if has {
			for _, n := range m.Inventory.Nodes {
				if n.Name == "" {
					return errors.New("inventory: node without a name")
				}
			}
		}
	case KindHeartbeat:
		has = m.Heartbeat != nil
	case KindError:
		has = m.Error != nil
	default:
		return fmt.Errorf("%w %q", ErrUnknownKind, m.Kind)
	}
	if !has || bodies != 1 {
		return fmt.Errorf("message of kind %s must carry exactly its own body", m.Kind)
	}
	return nil
}

func (k ItemKey) validate() error {
	switch k.Kind {
	case ItemNamespace, ItemNodeLabel, ItemWorkload:
	default:
		return fmt.Errorf("%w: item kind %q", ErrUnknownKind, k.Kind)
	}
	if k.Name == "" {
		return fmt.Errorf("item of kind %s without a name", k.Kind)
	}
	return nil
}

// dropUnknown removes the items and statuses of kinds or states this
// version does not know, naming them in Skipped: a newer peer's additions
// are ignored, not refused (see Version).
func (m *Message) dropUnknown() {
	if d := m.Desired; d != nil && m.Kind == KindDesired {
		kept := d.Items[:0]
		for _, it := range d.Items {
			if it.ItemKey.knownKind() {
				kept = append(kept, it)
				continue
			}
			m.Skipped = append(m.Skipped, fmt.Sprintf("item %s/%s of unknown kind", it.ItemKey.Kind, it.ItemKey.Name))
		}
		d.Items = kept
	}
	if st := m.Status; st != nil && m.Kind == KindStatus {
		kept := st.Items[:0]
		for _, it := range st.Items {
			if it.ItemKey.knownKind() && (it.State == StateApplied || it.State == StateFailed || it.State == StateApplying) {
				kept = append(kept, it)
				continue
			}
			m.Skipped = append(m.Skipped, fmt.Sprintf("status of %s/%s in unknown kind or state %q", it.ItemKey.Kind, it.ItemKey.Name, it.State))
		}
		st.Items = kept
	}
}

func (k ItemKey) knownKind() bool {
	switch k.Kind {
	case ItemNamespace, ItemNodeLabel, ItemWorkload:
		return true
	}
	return false
}
