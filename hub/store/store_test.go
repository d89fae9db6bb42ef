package store

import "testing"

func TestRole(t *testing.T) {
	cases := []struct {
		name string
		u    User
		want Role
	}{
		{"pending", User{Status: UserPending, IsAdmin: true}, RolePending},
		{"pending sysadmin", User{Status: UserPending, IsSysAdmin: true}, RolePending},
		{"forbidden", User{Status: UserForbidden, BusinessID: 1, BusinessStatus: BusinessApproved}, RolePending},
		{"sysadmin", User{Status: UserApproved, IsSysAdmin: true, IsAdmin: true}, RoleSysAdmin},
		{"admin without business", User{Status: UserApproved, IsAdmin: true}, RoleApproved},
		{"admin of pending business", User{Status: UserApproved, IsAdmin: true, BusinessID: 3, BusinessStatus: BusinessPending}, RoleApproved},
		{"admin of disapproved business", User{Status: UserApproved, IsAdmin: true, BusinessID: 3, BusinessStatus: BusinessDisapproved}, RoleApproved},
		{"admin of approved business", User{Status: UserApproved, IsAdmin: true, BusinessID: 3, BusinessStatus: BusinessApproved}, RoleBusinessAdmin},
		{"user of approved business", User{Status: UserApproved, BusinessID: 3, BusinessStatus: BusinessApproved}, RoleUser},
		{"user without business", User{Status: UserApproved}, RoleApproved},
	}
	for _, c := range cases {
		if got := c.u.Role(); got != c.want {
			t.Errorf("%s: role %d, want %d", c.name, got, c.want)
		}
	}
	if Namespace(123) != "ns123" {
		t.Errorf("Namespace(123) = %s", Namespace(123))
	}
}
