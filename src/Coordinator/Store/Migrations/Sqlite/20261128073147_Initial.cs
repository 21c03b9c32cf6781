using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Activations.Coordinator.Store.Migrations.Sqlite
{
    /// <inheritdoc />
    public partial class Initial : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateTable(
                name: "jobs",
                columns: table => new
                {
                    id = table.Column<Guid>(type: "TEXT", nullable: false),
                    key = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    settings_json = table.Column<string>(type: "TEXT", nullable: false),
                    model_fingerprint = table.Column<string>(type: "TEXT", maxLength: 64, nullable: false),
                    output_directory = table.Column<string>(type: "TEXT", nullable: false),
                    question_count = table.Column<int>(type: "INTEGER", nullable: false),
                    status = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    failure_reason = table.Column<string>(type: "TEXT", nullable: true),
                    created_at = table.Column<DateTime>(type: "TEXT", nullable: false),
                    completed_at = table.Column<DateTime>(type: "TEXT", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_jobs", x => x.id);
                });

            migrationBuilder.CreateTable(
                name: "questions",
                columns: table => new
                {
                    job_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    question_index = table.Column<int>(type: "INTEGER", nullable: false),
                    pair_id = table.Column<string>(type: "TEXT", nullable: false),
                    label = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    row = table.Column<int>(type: "INTEGER", nullable: false),
                    text = table.Column<string>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_questions", x => new { x.job_id, x.question_index });
                    table.ForeignKey(
                        name: "FK_questions_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "question_failures",
                columns: table => new
                {
                    job_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    question_index = table.Column<int>(type: "INTEGER", nullable: false),
                    reason = table.Column<string>(type: "TEXT", nullable: false),
                    worker = table.Column<string>(type: "TEXT", nullable: false),
                    recorded_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_question_failures", x => new { x.job_id, x.question_index });
                    table.ForeignKey(
                        name: "FK_question_failures_questions_job_id_question_index",
                        columns: x => new { x.job_id, x.question_index },
                        principalTable: "questions",
                        principalColumns: new[] { "job_id", "question_index" },
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "question_results",
                columns: table => new
                {
                    job_id = table.Column<Guid>(type: "TEXT", nullable: false),
                    question_index = table.Column<int>(type: "INTEGER", nullable: false),
                    token_count = table.Column<int>(type: "INTEGER", nullable: false),
                    hidden = table.Column<int>(type: "INTEGER", nullable: false),
                    vectors = table.Column<byte[]>(type: "BLOB", nullable: false),
                    dtype = table.Column<string>(type: "TEXT", maxLength: 16, nullable: false),
                    worker = table.Column<string>(type: "TEXT", nullable: false),
                    recorded_at = table.Column<DateTime>(type: "TEXT", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_question_results", x => new { x.job_id, x.question_index });
                    table.ForeignKey(
                        name: "FK_question_results_questions_job_id_question_index",
                        columns: x => new { x.job_id, x.question_index },
                        principalTable: "questions",
                        principalColumns: new[] { "job_id", "question_index" },
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_jobs_key",
                table: "jobs",
                column: "key",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "question_failures");

            migrationBuilder.DropTable(
                name: "question_results");

            migrationBuilder.DropTable(
                name: "questions");

            migrationBuilder.DropTable(
                name: "jobs");
        }
    }
}
