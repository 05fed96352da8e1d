@echo off
rem agent-sync launcher for Windows: runs the zipapp beside this file.
where py >nul 2>nul && (py -3 -I -S "%~dp0agent-sync.pyz" %* & exit /b %errorlevel%)
python -I -S "%~dp0agent-sync.pyz" %*
exit /b %errorlevel%
