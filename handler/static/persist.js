// What survives a reload of the tab: the password, the server's ids and the settings in
// sessionStorage; the photo and product files themselves in IndexedDB (the server keeps
// only ids, and the page needs the pictures to draw).

const PASSWORD_KEY = "drishya.password";
const WORK_KEY = "drishya.work";
const DB_NAME = "drishya";
const STORE = "files";

function storage() {
  try { return window.sessionStorage; } catch { return null; }
}

export function readPassword() {
  try { return storage()?.getItem(PASSWORD_KEY) ?? null; } catch { return null; }
}

export function storePassword(password) {
  try {
    if (password === null) storage()?.removeItem(PASSWORD_KEY);
    else storage()?.setItem(PASSWORD_KEY, password);
  } catch { /* storage blocked: the password lasts until reload */ }
}

export function readWork() {
  try {
    const text = storage()?.getItem(WORK_KEY);
    return text ? JSON.parse(text) : null;
  } catch { return null; }
}

export function storeWork(work) {
  try {
    if (work === null) storage()?.removeItem(WORK_KEY);
    else storage()?.setItem(WORK_KEY, JSON.stringify(work));
  } catch { /* full or blocked: a reload then starts afresh */ }
}

function openDb() {
  return new Promise((resolve, reject) => {
    if (!window.indexedDB) { reject(new Error("no IndexedDB")); return; }
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function withStore(mode, work) {
  const db = await openDb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request ? request.result : undefined);
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

/** Keeps a file (Blob) under `key` ("scene", "product"); failures only cost the restore. */
export async function storeFile(key, blob) {
  try { await withStore("readwrite", (store) => store.put(blob, key)); } catch { /* restore will say so */ }
}

export async function readFile(key) {
  try { return (await withStore("readonly", (store) => store.get(key))) || null; } catch { return null; }
}

export async function forgetFiles() {
  try { await withStore("readwrite", (store) => store.clear()); } catch { /* nothing kept */ }
}
