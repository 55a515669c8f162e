' A desktop program signs its user in through the browser, calls a DPoP API, and keeps the
' sign-in for the next run (examples-c/sign_in.c in VBScript, over libdpop's COM objects).
'
' The first run has no saved state: a new DPoP key, SignIn opens the system browser at the
' authorization server (authorization code + PKCE, the loopback redirect to 127.0.0.1), the API
' is called with the DPoP-bound token, and SaveState writes the key and the refresh token to
' STATE_FILE, protected with DPAPI for the current Windows user (passphrase ""). Every later run
' loads that file and calls the API at once, with no browser; the object saves the rotated
' refresh token over the file by itself. When the server refuses the saved refresh token
' (DPOP_ERR_SIGN_IN_REQUIRED), the program signs in again.
'
'   cscript //nologo sign_in_sample.vbs ISSUER API_URL CLIENT_ID STATE_FILE
'
' Prints how it signed in, "status: <code>" and the API's answer.
Option Explicit

Dim args, issuer, apiUrl, clientId, stateFile
Set args = WScript.Arguments
If args.Count < 4 Then
    WScript.Echo "usage: sign_in_sample.vbs ISSUER API_URL CLIENT_ID STATE_FILE"
    WScript.Quit 2
End If
issuer = args(0)
apiUrl = args(1)
clientId = args(2)
stateFile = args(3)

Dim success, privKey, json, http, resp

' The token settings: a public client signing its user in, the redirect to any free port.
Set json = CreateObject("Dpop.JsonObject")
success = json.UpdateString("grant_type", "authorization_code")
success = json.UpdateString("client_id", clientId)
success = json.UpdateString("issuer", issuer)
success = json.UpdateString("redirect_uri", "http://127.0.0.1:0/callback")
success = json.UpdateString("scope", "openid api")

Set http = CreateObject("Dpop.Http")
' The settings first: a saved state is checked against them.
http.AuthToken = json.Emit()
If (http.LastMethodSuccess = False) Then
    WScript.Echo http.LastErrorText
    WScript.Quit 1
End If

Sub SignIn()
    WScript.Echo "signing in: the browser opens"
    ' Waits up to 5 minutes for the user.
    success = http.SignIn(300000)
    If (success = False) Then
        If http.LastMethodSuccess Then WScript.Echo "the user did not sign in in time" Else WScript.Echo http.LastErrorText
        http.SignInCancel
        WScript.Quit 1
    End If
    WScript.Echo "signed in through the browser"
    ' Passphrase "": DPAPI, for the current Windows user.
    success = http.SaveState(stateFile, "")
    If (success = False) Then WScript.Echo http.LastErrorText
End Sub

' A later run: the key and the refresh token of the last one.
success = http.LoadState(stateFile, "")
If success Then
    WScript.Echo "signed in from the saved state"
Else
    ' DPOP_ERR_IO: the first run. Anything else (damaged, another Windows user, other
    ' settings): start clean.
    If InStr(http.LastErrorText, "DPOP_ERR_IO") = 0 Then WScript.Echo "the saved state cannot be used: " & http.LastErrorText
    success = http.ClearState(stateFile)
    ' The key the tokens are bound to; the state file keeps it.
    Set privKey = CreateObject("Dpop.PrivateKey")
    success = privKey.GenerateKey("ES256")
    success = http.SetDPoPKey(privKey)
    SignIn
End If

resp = http.QuickGetStr(apiUrl)
If (http.LastMethodSuccess = False) And (InStr(http.LastErrorText, "DPOP_ERR_SIGN_IN_REQUIRED") > 0) Then
    ' The server refused the saved refresh token: sign in again (the key stays).
    WScript.Echo "the saved sign-in is no longer accepted; signing in again"
    SignIn
    resp = http.QuickGetStr(apiUrl)
End If
If (http.LastMethodSuccess = False) Then
    WScript.Echo http.LastErrorText
    WScript.Quit 1
End If

WScript.Echo "status: " & http.LastStatus
WScript.Echo resp
