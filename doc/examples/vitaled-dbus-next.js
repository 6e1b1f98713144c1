#!/usr/bin/env node
// Follow vitaled's cards with Node's dbus-next (npm install dbus-next),
// race-free (doc/dbus-api.md): one match for the whole /org/vitaled
// namespace and one for the name's owner, then GetManagedObjects; State is
// read again whenever a card is heard of; when vitaled restarts, everything
// is listed again.  Low-level messages, no per-object proxies: a proxy
// subscribes per path only after it is made, and misses a fast read.
//
//   node vitaled-dbus-next.js [YYYY-MM-DD]
//
// One JSON line per event on stdout, as doc/examples/vitaled-gdbus.py
// prints them (sync, done, data, error, removed, vanished, stale).  A
// refused call rejects with a DBusError whose .type is the D-Bus error name.
// Personal data (first names) is printed: run it on test cards only.
'use strict';

const dbus = require('dbus-next');
const { Message, MessageType } = dbus;

const NAME = 'org.vitaled';
const ROOT = '/org/vitaled';
const CARD1 = 'org.vitaled.Card1';
const READER1 = 'org.vitaled.Reader1';
const date = process.argv[2] || '';
const bus = dbus.systemBus();
let handled = new Set();
let known = new Set();

function emit (event) {
  process.stdout.write(JSON.stringify(event) + '\n');
}

function call (destination, path, iface, member, signature = '', body = []) {
  return bus.call(new Message({ destination, path, interface: iface, member, signature, body }))
    .then((reply) => reply.body);
}

function get (path, prop) {
  return call(NAME, path, 'org.freedesktop.DBus.Properties', 'Get', 'ss', [CARD1, prop])
    .then(([v]) => v.value);
}

// Read State again, whatever we heard: a "done" may have come before.
async function cardCheck (path) {
  known.add(path);
  if (handled.has(path)) return;
  let state;
  try {
    state = await get(path, 'State');
  } catch (e) {
    return; // gone meanwhile
  }
  if (state !== 'done' || handled.has(path)) return;
  handled.add(path);
  const hasData = await get(path, 'HasData');
  emit({ event: 'done', path, status: await get(path, 'Status'), has_data: hasData,
         count: await get(path, 'BeneficiaryCount') });
  let method = 'GetAffiliation';
  try {
    const [aff] = await call(NAME, path, CARD1, method);
    method = 'GetBeneficiaries';
    const [bens] = await call(NAME, path, CARD1, method, 's', [date]);
    emit({ event: 'data', path, serial: aff.CardSerial.value,
           first_names: bens.map((b) => b.FirstName.value) });
  } catch (e) {
    emit({ event: 'error', path, method, name: e.type, js: e.name });
  }
  try {
    await call(NAME, path, CARD1, 'GetBeneficiaries', 's', ['not-a-date']);
  } catch (e) {
    emit({ event: 'error', path, method: 'GetBeneficiaries', name: e.type, js: e.name });
  }
}

async function sync () {
  const [objects] = await call(NAME, ROOT, 'org.freedesktop.DBus.ObjectManager',
    'GetManagedObjects');
  const paths = Object.keys(objects).sort();
  const cards = paths.filter((p) => CARD1 in objects[p]);
  emit({ event: 'sync', readers: paths.filter((p) => READER1 in objects[p]), cards });
  for (const p of cards) await cardCheck(p);
}

// vitaled restarted: its card paths are dead for good; list everything again.
async function ownerChanged (newOwner) {
  if (!newOwner) {
    emit({ event: 'vanished' });
    return;
  }
  const before = [...known].sort();
  known = new Set();
  handled = new Set();
  await sync();
  for (const path of before) {
    try {
      await call(NAME, path, CARD1, 'GetAffiliation');
      emit({ event: 'stale', path, name: null });
    } catch (e) {
      emit({ event: 'stale', path, name: e.type, js: e.name });
    }
  }
}

async function onSignal (msg) {
  if (msg.sender === 'org.freedesktop.DBus' && msg.member === 'NameOwnerChanged') {
    if (msg.body[0] === NAME) await ownerChanged(msg.body[2]);
  } else if (msg.interface === 'org.freedesktop.DBus.ObjectManager' &&
             msg.member === 'InterfacesAdded') {
    if (CARD1 in msg.body[1]) await cardCheck(msg.body[0]);
  } else if (msg.interface === 'org.freedesktop.DBus.ObjectManager' &&
             msg.member === 'InterfacesRemoved') {
    if (msg.body[1].includes(CARD1)) emit({ event: 'removed', path: msg.body[0] });
  } else if (msg.interface === 'org.freedesktop.DBus.Properties' &&
             msg.member === 'PropertiesChanged' && msg.body[0] === CARD1) {
    await cardCheck(msg.path);
  }
}

async function main () {
  // One at a time, in order: each event sees what the previous one did.
  let queue = Promise.resolve();
  bus.on('message', (msg) => {
    if (msg.type !== MessageType.SIGNAL) return;
    queue = queue.then(() => onSignal(msg)).catch((e) => {
      process.stderr.write(`${e.stack}\n`);
      process.exit(1);
    });
  });
  const addMatch = (rule) => call('org.freedesktop.DBus', '/org/freedesktop/DBus',
    'org.freedesktop.DBus', 'AddMatch', 's', [rule]);
  // Subscribe first, then list: nothing slips between.
  await addMatch(`type='signal',sender='${NAME}',path_namespace='${ROOT}'`);
  await addMatch(`type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='${NAME}'`);
  queue = queue.then(sync);
  await queue;
}

main().catch((e) => {
  process.stderr.write(`cannot follow ${NAME}: ${e.stack}\n`);
  process.exit(1);
});
