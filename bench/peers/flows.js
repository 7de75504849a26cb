// bench/peers/flows.js - writes the Node-RED flow of the peer benchmark:
//
//   node flows.js OUT.json BROKER_PORT POLL_MS PER_DEVICE PORT1 PORT2 ...
//
// One modbus-read node per device (node-red-contrib-modbus, FC4, the
// device's PER_DEVICE input registers in one request every POLL_MS), a
// function node that keeps the last reading and sends one message per
// changed contact (all of them on the first reading), and one shared
// "mqtt out" at QoS 1: what a Node-RED user builds for "tell the station
// when a contact changes". Topic nodered/ptNNNN, payload
// "<epoch seconds>:<0|1>", the form bench/latency.c reads from collectd.
'use strict';
const fs = require('fs');

const [out, brokerPort, pollMs, perDevice, ...ports] = process.argv.slice(2);
const per = Number(perDevice);
const flows = [
    {id: 'tab', type: 'tab', label: 'vigil bench'},
    {id: 'broker', type: 'mqtt-broker', name: 'local', broker: '127.0.0.1', port: brokerPort,
     clientid: 'nodered-bench', usetls: false, protocolVersion: '4', keepalive: '60', cleansession: true,
     autoConnect: true},
    {id: 'mqttout', type: 'mqtt out', z: 'tab', name: 'station', topic: '', qos: '1', retain: 'false',
     broker: 'broker', x: 500, y: 40, wires: []},
];

// Runs inside Node-RED: one message per changed contact of this device.
const changes = `
const prev = context.get('prev');
const t = (Date.now() / 1000).toFixed(3);
const out = [];
msg.payload.forEach((v, i) => {
    const b = v & 1;
    if (!prev || prev[i] !== b)
        out.push({topic: 'nodered/pt' + String(FIRST + i).padStart(4, '0'), payload: t + ':' + b});
});
context.set('prev', msg.payload.map((v) => v & 1));
return [out];
`;

ports.forEach((port, d) => {
    const dev = 'io' + String(d + 1).padStart(2, '0');
    flows.push(
        {id: 'client-' + dev, type: 'modbus-client', name: dev, clienttype: 'tcp', bufferCommands: true,
         stateLogEnabled: false, queueLogEnabled: false, failureLogEnabled: false, tcpHost: '127.0.0.1',
         tcpPort: port, tcpType: 'DEFAULT', unit_id: '1', commandDelay: '1', clientTimeout: '1000',
         reconnectOnTimeout: true, reconnectTimeout: '2000', parallelUnitIdsAllowed: true},
        {id: 'read-' + dev, type: 'modbus-read', z: 'tab', name: dev, topic: dev, showStatusActivities: false,
         logIOActivities: false, showErrors: false, showWarnings: false, unitid: '1', dataType: 'InputRegister',
         adr: '0', quantity: String(per), rate: pollMs, rateUnit: 'ms', delayOnStart: false,
         startDelayTime: '', server: 'client-' + dev, useIOFile: false, ioFile: '', useIOForPayload: false,
         emptyMsgOnFail: false, x: 100, y: 40 + 40 * d, wires: [['changes-' + dev], []]},
        {id: 'changes-' + dev, type: 'function', z: 'tab', name: dev + ' changes',
         func: changes.replace('FIRST', String(d * per)), outputs: 1, x: 300, y: 40 + 40 * d,
         wires: [['mqttout']]});
});
fs.writeFileSync(out, JSON.stringify(flows, null, 1) + '\n');
