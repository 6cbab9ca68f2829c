package models

// Permission is something a role may do. Every check on the server goes
// through Can; this table is the one place roles are defined.
type Permission string

const (
	PermSignInHTML     Permission = "html:sign_in"    // use the web pages
	PermUseAPI         Permission = "api:use"         // use /api with a key
	PermBotsRead       Permission = "bots:read"       // see every bot, version and execution
	PermBotsCreate     Permission = "bots:create"     // create bots (owned by oneself)
	PermBotsEditOwn    Permission = "bots:edit_own"   // edit, version, archive own bots
	PermBotsEditAny    Permission = "bots:edit_any"   // … anyone's bots
	PermBotsRunOwn     Permission = "bots:run_own"    // run own bots
	PermBotsRunAny     Permission = "bots:run_any"    // run anyone's bots
	PermBotsPurge      Permission = "bots:purge"      // delete archived bots for good
	PermAuditRead      Permission = "audit:read"      // the audit log
	PermUsersManage    Permission = "users:manage"    // users page: roles, disable, sessions
	PermAPIKeysOwn     Permission = "api_keys:own"    // create and revoke one's own keys
	PermProfile        Permission = "profile:own"     // one's own profile, password, sessions
	PermSystemSettings Permission = "system:settings" // instance-wide settings
)

var rolePermissions = map[Role]map[Permission]bool{
	RoleAdmin: set(PermSignInHTML, PermUseAPI, PermBotsRead, PermBotsCreate, PermBotsEditOwn, PermBotsEditAny,
		PermBotsRunOwn, PermBotsRunAny, PermBotsPurge, PermAuditRead, PermUsersManage, PermAPIKeysOwn, PermProfile, PermSystemSettings),
	RoleUser: set(PermSignInHTML, PermUseAPI, PermBotsRead, PermBotsCreate, PermBotsEditOwn, PermBotsRunOwn,
		PermAPIKeysOwn, PermProfile),
	RoleViewer: set(PermSignInHTML, PermUseAPI, PermBotsRead, PermAPIKeysOwn, PermProfile),
	// api_user: programs only — never the HTML pages; what its keys may do
	// is bounded by these permissions and the key's scopes.
	RoleAPIUser: set(PermUseAPI, PermBotsRead, PermBotsCreate, PermBotsEditOwn, PermBotsRunOwn),
}

func set(ps ...Permission) map[Permission]bool {
	m := make(map[Permission]bool, len(ps))
	for _, p := range ps {
		m[p] = true
	}
	return m
}

// Can reports whether role has permission p.
func Can(role Role, p Permission) bool { return rolePermissions[role][p] }

// Can reports whether the user (active) has permission p.
func (u *User) Can(p Permission) bool { return u != nil && u.IsActive && Can(u.Role, p) }
