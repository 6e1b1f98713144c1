// Evaluates a polkit rules file the way polkitd does (polkit.addRule with
// (action, subject) callbacks, first non-NOT_HANDLED result wins) and
// prints the verdict for each "action-id user" pair given on stdin.
"use strict";
const fs = require("fs");
const vm = require("vm");

const rules = [];
const Result = { NO: "no", YES: "yes", AUTH_SELF: "auth_self",
	AUTH_SELF_KEEP: "auth_self_keep", AUTH_ADMIN: "auth_admin",
	AUTH_ADMIN_KEEP: "auth_admin_keep", NOT_HANDLED: null };
const polkit = {
	Result: Result,
	addRule: function (f) { rules.push(f); },
	addAdminRule: function () {},
	log: function () {},
	spawn: function () { throw new Error("spawn is not expected in our rules"); },
};
vm.runInNewContext(fs.readFileSync(process.argv[2], "utf8"), { polkit: polkit },
	{ filename: process.argv[2] });

function verdict(actionId, user) {
	const action = { id: actionId, lookup: function () { return undefined; } };
	const subject = { user: user, groups: [], local: true, active: false,
		session: "", isInGroup: function () { return false; },
		isInNetGroup: function () { return false; } };
	for (const rule of rules) {
		const r = rule(action, subject);
		if (r !== undefined && r !== null)
			return r;
	}
	return "not_handled";
}

const input = fs.readFileSync(0, "utf8").trim().split("\n");
for (const line of input) {
	const [actionId, user] = line.split(" ");
	console.log(actionId + " " + user + " " + verdict(actionId, user));
}
