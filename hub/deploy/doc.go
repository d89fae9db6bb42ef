// Package deploy is the one home of a deployment's life: the container
// app's spec and its validation (app.go), compiling a deployment of an app
// version into the agents' workload spec (compile.go), the audit policy
// that decides which changes wait for a human (policy.go), the state
// machine of a deployment and its requests (state.go), the clusters a
// workload fans out to, and the status the agents' reports add up to
// (status.go).
//
// Everything here is a function of its arguments: the API's handlers
// decode a request, call in here and encode the answer; the store runs the
// transactions that apply what this package decides. Nothing here touches
// the database or the network, so every rule is tested without either.
package deploy
