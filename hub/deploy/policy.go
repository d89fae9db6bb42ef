package deploy

import "github.com/ote-stack/ote/hub/store"

// Policy is the audit policy: which changes to a deployment wait for an
// administrator's decision and which are approved as they are filed.
type Policy struct {
	// AdminAutoDeploy approves the changes a business administrator files
	// (the hub's feature enableAdminAutoDeploy).
	AdminAutoDeploy bool
}

// AutoComment is the audit comment of a change approved by the policy.
const AutoComment = "approved without audit"

// Decide is the policy's verdict on a change of type typ filed by a member
// of role; d is the deployment changed (nil for a new one). Every change
// waits for an audit except a business administrator's when the hub
// allows it, and the deletion of a deployment that never ran: nothing of
// it is in any cluster.
func (p Policy) Decide(role store.Role, typ store.DeployType, d *store.Deploy) store.Verdict {
	switch {
	case p.AdminAutoDeploy && role == store.RoleBusinessAdmin:
	case typ == store.DeployDeleteReq && d != nil && d.Editable && NeverLive(d.Status):
	default:
		return store.Verdict{}
	}
	return store.Verdict{Approve: true, Comment: AutoComment}
}
