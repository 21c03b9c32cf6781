using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace Activations.Coordinator.Store.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class HookVectors : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            // Results recorded before this migration have no hook names: they are removed rather than left without
            // vectors, so a job resumed from them computes those questions again.
            migrationBuilder.Sql("DELETE FROM question_results;");

            migrationBuilder.DropColumn(
                name: "hidden",
                table: "question_results");

            migrationBuilder.DropColumn(
                name: "vectors",
                table: "question_results");

            migrationBuilder.AddColumn<string>(
                name: "device",
                table: "question_results",
                type: "character varying(32)",
                maxLength: 32,
                nullable: false,
                defaultValue: "");

            migrationBuilder.CreateTable(
                name: "job_hooks",
                columns: table => new
                {
                    job_id = table.Column<Guid>(type: "uuid", nullable: false),
                    hook = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    width = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_job_hooks", x => new { x.job_id, x.hook });
                    table.ForeignKey(
                        name: "FK_job_hooks_jobs_job_id",
                        column: x => x.job_id,
                        principalTable: "jobs",
                        principalColumn: "id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "result_vectors",
                columns: table => new
                {
                    job_id = table.Column<Guid>(type: "uuid", nullable: false),
                    question_index = table.Column<int>(type: "integer", nullable: false),
                    hook = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    vector = table.Column<byte[]>(type: "bytea", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_result_vectors", x => new { x.job_id, x.question_index, x.hook });
                    table.ForeignKey(
                        name: "FK_result_vectors_question_results_job_id_question_index",
                        columns: x => new { x.job_id, x.question_index },
                        principalTable: "question_results",
                        principalColumns: new[] { "job_id", "question_index" },
                        onDelete: ReferentialAction.Cascade);
                });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "job_hooks");

            migrationBuilder.DropTable(
                name: "result_vectors");

            migrationBuilder.DropColumn(
                name: "device",
                table: "question_results");

            migrationBuilder.AddColumn<int>(
                name: "hidden",
                table: "question_results",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<byte[]>(
                name: "vectors",
                table: "question_results",
                type: "bytea",
                nullable: false,
                defaultValue: new byte[0]);
        }
    }
}
