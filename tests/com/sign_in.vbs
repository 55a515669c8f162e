' Signing a user in and the saved state through Dpop.Http, against a local test server with a
' public client (its /authorize approves at once), under Wine:
'   1. before signing in: QuickGetStr fails with DPOP_ERR_SIGN_IN_REQUIRED, SignInUrl is empty,
'      SignInWait fails with DPOP_ERR_NOT_FOUND;
'   2. SignInStart(False): SignInUrl holds dpop_jkt = the key's thumbprint and S256 PKCE,
'      SignInWait(0) is False with LastMethodSuccess True (still waiting), SignInCancel ends it;
'   3. SignIn with DPOP_BROWSER = browser.exe (tests/com/browser.c, which GETs the URL and
'      follows the redirect to the loopback listener): True, then the API answers 200 with a
'      token bound to the key;
'   4. SaveState with DPAPI (passphrase ""), then a new Dpop.Http with the same AuthToken and no
'      key: LoadState, the API answers 200 with the saved key, and the server saw no second
'      authorization request (GET /stats);
'   5. a passphrase instead of DPAPI; the wrong passphrase (DPOP_ERR_STATE_LOCKED); ClearState
'      deletes the file and forgets the key; LoadState then fails with DPOP_ERR_IO.
'
'   cscript //nologo sign_in.vbs ISSUER CLIENT_ID STATE_DIR
'
' DPOP_BROWSER must name the browser program (a Windows path). Exits 0 when every check passed.
Option Explicit

Dim args, issuer, clientId, stateDir, apiUrl
Set args = WScript.Arguments
If args.Count < 3 Then
    WScript.Echo "usage: sign_in.vbs ISSUER CLIENT_ID STATE_DIR"
    WScript.Quit 2
End If
issuer = args(0)
clientId = args(1)
stateDir = args(2)
apiUrl = issuer & "/dpop/test"

Dim passed, failed
passed = 0
failed = 0

Sub Check(what, condition, detail)
    If condition Then
        passed = passed + 1
        WScript.Echo "ok   " & what
    Else
        failed = failed + 1
        WScript.Echo "FAIL " & what & ": " & detail
    End If
End Sub

' The failure of the last method: False, LastMethodSuccess False, and the code in LastErrorText.
Sub CheckFailure(what, result, obj, code)
    Check what, result = False And obj.LastMethodSuccess = False And InStr(obj.LastErrorText, code) > 0, _
        "returned " & result & ", LastMethodSuccess " & obj.LastMethodSuccess & ": " & obj.LastErrorText
End Sub

' The test server's counters (GET /stats) as JSON text.
Function Stats()
    Dim plain
    Set plain = CreateObject("Dpop.Http")
    Stats = plain.QuickGetStr(issuer & "/stats")
End Function

Dim success, privKey, json, authToken, http, http2, http3, body, thumbprint, jkt, url, fso, statePath, passPath

Set fso = CreateObject("Scripting.FileSystemObject")
statePath = stateDir & "\sign_in.state"
passPath = stateDir & "\sign_in-passphrase.state"
If fso.FileExists(statePath) Then fso.DeleteFile statePath

Set json = CreateObject("Dpop.JsonObject")
success = json.UpdateString("grant_type", "authorization_code")
success = json.UpdateString("client_id", clientId)
success = json.UpdateString("issuer", issuer)
success = json.UpdateString("redirect_uri", "http://127.0.0.1:0/callback")
success = json.UpdateString("scope", "openid api")
authToken = json.Emit()

Set privKey = CreateObject("Dpop.PrivateKey")
Check "a new ES256 key", privKey.GenerateKey("ES256"), privKey.LastErrorText
thumbprint = privKey.GetJwkThumbprint("SHA256")
jkt = """jkt"":""" & thumbprint & """"

Set http = CreateObject("Dpop.Http")
Check "SetDPoPKey", http.SetDPoPKey(privKey), http.LastErrorText
http.AuthToken = authToken
Check "the sign-in settings are accepted", http.LastMethodSuccess, http.LastErrorText

' 1. Before signing in.
body = http.QuickGetStr(apiUrl)
Check "QuickGetStr before signing in fails with DPOP_ERR_SIGN_IN_REQUIRED", _
    http.LastMethodSuccess = False And InStr(http.LastErrorText, "DPOP_ERR_SIGN_IN_REQUIRED") > 0, http.LastErrorText
Check "SignInUrl is empty with no sign-in", http.SignInUrl = "", http.SignInUrl
CheckFailure "SignInWait with no sign-in", http.SignInWait(0), http, "DPOP_ERR_NOT_FOUND"
CheckFailure "SignIn with a negative timeout", http.SignIn(-1), http, "negative"

' 2. Started without a browser: the URL, still waiting, cancelled.
Check "SignInStart(False)", http.SignInStart(False), http.LastErrorText
url = http.SignInUrl
Check "SignInUrl is the authorization URL with dpop_jkt and S256", _
    InStr(url, issuer & "/authorize?") = 1 And InStr(url, "dpop_jkt=" & thumbprint) > 0 And _
    InStr(url, "code_challenge_method=S256") > 0, url
success = http.SignInWait(0)
Check "SignInWait(0) is False with LastMethodSuccess True: still waiting", _
    success = False And http.LastMethodSuccess And http.LastErrorText = "", _
    success & " " & http.LastMethodSuccess & " " & http.LastErrorText
http.SignInCancel
Check "SignInCancel succeeds", http.LastMethodSuccess, http.LastErrorText
CheckFailure "SignInWait after SignInCancel", http.SignInWait(0), http, "DPOP_ERR_CANCELLED"
Check "SignInUrl is empty after the cancel", http.SignInUrl = "", http.SignInUrl

' 3. SignIn through the browser program.
Check "SignIn with DPOP_BROWSER", http.SignIn(60000), http.LastErrorText
Check "SignInUrl is empty once signed in", http.SignInUrl = "", http.SignInUrl
body = http.QuickGetStr(apiUrl)
Check "the API answers 200 after signing in", http.LastMethodSuccess And http.LastStatus = 200, _
    http.LastStatus & " " & http.LastErrorText
Check "the token is bound to the key", InStr(body, jkt) > 0, body
Check "the token came with a refresh token", InStr(http.TokenInfo, """refresh_token"":true") > 0, http.TokenInfo

' 4. The saved state with DPAPI, loaded by a new object.
Check "SaveState with DPAPI (passphrase """")", http.SaveState(statePath, ""), http.LastErrorText
Check "the state file exists", fso.FileExists(statePath), statePath
Set http2 = CreateObject("Dpop.Http")
http2.AuthToken = authToken
Check "LoadState with DPAPI in a new object", http2.LoadState(statePath, ""), http2.LastErrorText
body = http2.QuickGetStr(apiUrl)
Check "the new object calls the API without signing in: 200", http2.LastMethodSuccess And http2.LastStatus = 200, _
    http2.LastStatus & " " & http2.LastErrorText
Check "with the saved key", InStr(body, jkt) > 0, body
body = Stats()
Check "the server saw one authorization request and one refresh", _
    InStr(body, """authorization_requests"":1,") > 0 And InStr(body, """refresh_grants"":1,") > 0, body

' 5. A passphrase instead of DPAPI, the wrong one, and ClearState.
Check "SaveState with a passphrase", http2.SaveState(passPath, "com passphrase"), http2.LastErrorText
Set http3 = CreateObject("Dpop.Http")
http3.AuthToken = authToken
CheckFailure "LoadState with the wrong passphrase", http3.LoadState(passPath, "wrong"), http3, "DPOP_ERR_STATE_LOCKED"
CheckFailure "LoadState of a DPAPI state with a passphrase", http3.LoadState(statePath, "com passphrase"), http3, _
    "DPOP_ERR_STATE_LOCKED"
Check "LoadState with the passphrase", http3.LoadState(passPath, "com passphrase"), http3.LastErrorText
body = http3.QuickGetStr(apiUrl)
Check "the API answers 200 from the passphrase state", http3.LastStatus = 200 And InStr(body, jkt) > 0, _
    http3.LastStatus & " " & http3.LastErrorText
Check "ClearState", http3.ClearState(passPath), http3.LastErrorText
Check "ClearState deleted the file", Not fso.FileExists(passPath), passPath
body = http3.QuickGetStr(apiUrl)
Check "after ClearState the object has no token", _
    http3.LastMethodSuccess = False And InStr(http3.LastErrorText, "DPOP_ERR_SIGN_IN_REQUIRED") > 0, http3.LastErrorText
CheckFailure "after ClearState the object has no key", http3.SignInStart(False), http3, "DPOP_ERR_KEY_NOT_LOADED"
CheckFailure "LoadState of the deleted file", http3.LoadState(passPath, "com passphrase"), http3, "DPOP_ERR_IO"
Check "ClearState of the DPAPI state", http2.ClearState(statePath), http2.LastErrorText
Check "ClearState with no file is fine", http2.ClearState(statePath), http2.LastErrorText
Set http3 = CreateObject("Dpop.Http")
CheckFailure "LoadState before AuthToken", http3.LoadState(statePath, ""), http3, "DPOP_ERR_TOKEN_CONFIG"

WScript.Echo "sign_in.vbs: " & passed & " passed, " & failed & " failed"
If failed > 0 Then WScript.Quit 1
